from rungwise.cli import app

app(prog_name="rungwise")
