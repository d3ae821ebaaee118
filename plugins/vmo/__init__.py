"""The vmo plugin (in progress)."""

description = "vmo objects"
