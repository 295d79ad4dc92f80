from rtbf.cli import main

main()
