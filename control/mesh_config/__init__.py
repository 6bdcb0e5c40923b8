"""The mesh.yaml model and its validation (every error with file, line and key)."""

from control.mesh_config.model import (
    MeshConfig,
    MeshRoute,
    MtlsMode,
    Policy,
    PolicyAction,
    RolloutSpec,
    Service,
    ServiceVersion,
    SloSpec,
)
from control.mesh_config.validate import MeshConfigError, load_mesh_config, parse_mesh_config
from control.mesh_config.validate_command import validate_command

__all__ = [
    "MeshConfig",
    "MeshConfigError",
    "MeshRoute",
    "MtlsMode",
    "Policy",
    "PolicyAction",
    "RolloutSpec",
    "Service",
    "ServiceVersion",
    "SloSpec",
    "load_mesh_config",
    "parse_mesh_config",
    "validate_command",
]
