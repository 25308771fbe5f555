from lscb_xl.cli import main

main()
