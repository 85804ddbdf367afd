"""Common-check instances for sklpoison/nn/_net.py."""


def _grad_reg_net():
    from sklpoison.nn import GradRegNetClassifier

    # a small MLP (16 hidden units), 5 epochs of 64-sample batches at a high
    # learning rate: the checks fit dozens of times on tiny data sets, and
    # check_classifiers_train still needs a classifier that learns them
    params = dict(max_epochs=5, batch_size=64, lr=0.05, module__hidden_sizes=(16,), random_state=0)
    return [
        GradRegNetClassifier(**params),
        GradRegNetClassifier(kappa=0.1, **params),
    ]


INSTANCES = {"GradRegNetClassifier": _grad_reg_net}
EXPECTED_FAILED_CHECKS = {
    "GradRegNetClassifier": {
        "check_no_attributes_set_in_init": (
            "skorch's NeuralNet.__init__ sets history_, initialized_ and virtual_params_, "
            "which skorch's set_params/clone/pickle protocol relies on."
        ),
    }
}
