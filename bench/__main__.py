from bench.run import main

if __name__ == "__main__":  # worker processes (encode_devices) import this module again
    main()
