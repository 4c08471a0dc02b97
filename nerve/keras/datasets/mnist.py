"""``mnist.load_data()`` -> ((x_train, y_train), (x_test, y_test)), uint8 (60000, 28, 28)."""


def load_data(path: str = "mnist.npz"):
    from nerve.datasets import mnist

    return mnist.load_data()
