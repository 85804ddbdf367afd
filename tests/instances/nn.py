"""Common-check instances for sklpoison/nn/_net.py."""


def _grad_reg_net():
    from sklpoison.nn import GradRegNetClassifier

    # small MLP, few epochs: the checks fit dozens of times on tiny data sets
    return [
        GradRegNetClassifier(max_epochs=8, batch_size=32, random_state=0),
        GradRegNetClassifier(kappa=0.1, max_epochs=8, batch_size=32, random_state=0),
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
