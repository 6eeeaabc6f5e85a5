from reproductions.zhang2019 import main

if __name__ == "__main__":  # not when a sweep worker process imports this module
    main()
