from camseg_cli.cli import main

main()
