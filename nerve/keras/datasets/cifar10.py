"""``cifar10.load_data()`` -> ((x_train, y_train), (x_test, y_test)); images (N, 32, 32, 3) uint8,
labels (N, 1) uint8 as in Keras."""


def load_data():
    from nerve.datasets import cifar10

    (xtr, ytr), (xte, yte) = cifar10.load_data()
    return (xtr, ytr.reshape(-1, 1)), (xte, yte.reshape(-1, 1))
