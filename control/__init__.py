"""control: see DESIGN.md; built by a later issue."""

__all__: list[str] = []
