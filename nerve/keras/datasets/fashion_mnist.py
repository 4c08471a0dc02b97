"""``fashion_mnist.load_data()`` -> ((x_train, y_train), (x_test, y_test)), uint8 28x28."""


def load_data():
    from nerve.datasets import fashion_mnist

    return fashion_mnist.load_data()
