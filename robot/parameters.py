"""Node parameters from one table per node — name -> (default, description, (low, high) or None) — so the
node's declarations and its `--help` are the same thing."""

from __future__ import annotations


def declare_parameters(node, table: dict) -> dict:
    """Declare every parameter of `table` on `node` (read-only, described, range-checked by rclpy: a float
    default gets a floating-point range, an int default an integer range) and return their values."""
    from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, ParameterType

    for name, (default, description, bounds) in table.items():
        desc = ParameterDescriptor(description=description, read_only=True)
        if bounds and isinstance(default, float):
            desc.floating_point_range = [FloatingPointRange(from_value=float(bounds[0]), to_value=float(bounds[1]),
                                                            step=0.0)]
        elif bounds:
            desc.integer_range = [IntegerRange(from_value=int(bounds[0]), to_value=int(bounds[1]), step=1)]
        if isinstance(default, list) and not default:
            desc.type = ParameterType.PARAMETER_STRING_ARRAY
        node.declare_parameter(name, default, desc)
    return {name: node.get_parameter(name).value for name in table}
