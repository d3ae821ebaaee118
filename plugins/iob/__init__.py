"""The iob plugin (in progress)."""

description = "iob objects"
