from reproductions.he2015 import main

main()
