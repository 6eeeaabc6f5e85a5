from reproductions.learned_init import main

if __name__ == "__main__":  # not when a sweep worker process imports this module
    main()
