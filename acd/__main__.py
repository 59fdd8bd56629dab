from acd.cli import run

run()
