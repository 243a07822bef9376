"""One module per command; each decorates its function with `@app.command()`."""
