from reproductions.glorot2010 import main

main()
