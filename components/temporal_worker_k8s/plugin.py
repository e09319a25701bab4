"""The provider the package's plugin serves (`components/__main__.py`): Pulumi's inferred
component provider, with inputs mapped the same way whether they arrive as values or Outputs.

Construct hands the provider each input in its wire form, and the SDK's `ComponentProvider`
(3.272) turns it into the component's Python form at once: an enum value into the enum
(`LogLevel(value)`), a number into `int(value)`, an object's keys into Python names. An input
a program computed from another resource arrives as an Output, though, and then the SDK fails
before the component runs: `LogLevel(output)` is refused as an invalid enum value, `int(output)`
raises TypeError, and an object given as an Output is mapped as if it were empty ("Missing
required input 'temporalApiKey.key'"). Here such an input is mapped the same way inside
`apply`, once its value is known, so the component receives an Output of the mapped value,
with its dependencies and secretness, and checks it with its usual messages when it resolves.

Two more gaps of the SDK's mapping, for values and Outputs alike: every number travels as a
float, and only integer properties are turned back into ints, so the items of an integer list
(`egressPorts: [443]`) arrived as 443.0, which the settings spec refuses; and `int(2.5)` turned
a fractional number into 2 without a word. Here integral numbers become ints at any depth, and
a fractional one is left for the component to refuse with its usual message.
"""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi.provider.experimental.analyzer import PropertyDefinition, PropertyType
from pulumi.provider.experimental.component import ComponentProvider


class OutputInputsComponentProvider(ComponentProvider):
    """`ComponentProvider` whose input mapping waits for inputs that are Outputs."""

    def map_input_properties(self, inputs: Any, properties: dict[str, PropertyDefinition],
                             mapping: dict[str, str], component_name: str,
                             property_path: str) -> Any:
        if isinstance(inputs, pulumi.Output):
            # An object (a nested type, or an item of a list or map) given as one Output.
            return inputs.apply(lambda value: pulumi.Output.from_input(self.map_input_properties(
                value, properties, mapping, component_name, property_path)))
        mapped: dict[str, Any] = {}
        for schema_name, prop in properties.items():
            value = inputs.get(schema_name) if isinstance(inputs, dict) else None
            py_name = mapping[schema_name]

            def one(given: Any, schema_name: str = schema_name, prop: PropertyDefinition = prop,
                    py_name: str = py_name) -> dict[str, Any]:
                """The SDK's mapping of this one property (nested types come back here)."""
                if prop.type == PropertyType.INTEGER and isinstance(given, float) \
                        and not given.is_integer():
                    return {py_name: given}
                result = super(OutputInputsComponentProvider, self).map_input_properties(
                    {} if given is None else {schema_name: given}, {schema_name: prop},
                    {schema_name: mapping[schema_name]}, component_name, property_path)
                if py_name in result and not prop.ref:
                    result[py_name] = _integers(result[py_name], prop)
                return result

            if isinstance(value, pulumi.Output):
                mapped[py_name] = value.apply(
                    lambda resolved, one=one, py_name=py_name: pulumi.Output.from_input(
                        one(resolved).get(py_name)))
            else:
                mapped.update(one(value))
        return mapped


def _integers(value: Any, prop: PropertyDefinition) -> Any:
    """`value` with the integral numbers of integer properties (items of lists and maps
    included) as ints; Outputs inside it once they resolve."""
    if isinstance(value, pulumi.Output):
        return value.apply(lambda resolved: _integers(resolved, prop))
    if prop.type == PropertyType.INTEGER and isinstance(value, float) and value.is_integer():
        return int(value)
    if prop.items is not None and isinstance(value, list):
        return [_integers(item, prop.items) for item in value]
    if prop.additional_properties is not None and isinstance(value, dict):
        return {key: _integers(item, prop.additional_properties) for key, item in value.items()}
    return value
