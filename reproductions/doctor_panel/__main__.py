from reproductions.doctor_panel import main

if __name__ == "__main__":  # not when a sweep worker process imports this module
    main()
