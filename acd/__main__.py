from acd.cli import main

main()
