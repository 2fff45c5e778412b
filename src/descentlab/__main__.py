from descentlab.cli import main

main()
