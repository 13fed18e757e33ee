print("maml-host")
