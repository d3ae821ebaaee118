"""The channel plugin (in progress)."""

description = "channel objects"
