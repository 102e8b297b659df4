"""Built-in behaviour, registered through the same hooks as every other plugin."""
