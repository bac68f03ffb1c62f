from cityai.cli import main

main()
