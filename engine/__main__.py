from engine.interrupt import main

main()
