"""The control plane API: certificates, config watch, weights, revocations."""

from control.api.admin_client import AdminClient
from control.api.control_state import ControlState
from control.api.server import (
    DEFAULT_CONTROL_PORT,
    ControlPlane,
    build_app,
    control_plane_from_dir,
)

__all__ = ["DEFAULT_CONTROL_PORT", "AdminClient", "ControlPlane", "ControlState", "build_app",
           "control_plane_from_dir"]
