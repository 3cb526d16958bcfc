"""The workstation's API, one router per resource."""
