"""The port plugin (in progress)."""

description = "port objects"
