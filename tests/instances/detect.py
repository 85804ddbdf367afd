"""Common-check instances for sklpoison/detection/.

Every instance uses a float ``contamination``: scikit-learn's
``check_outliers_train`` wants some rows of its clean blobs flagged, which a
detector quiet on clean data (``contamination="auto"``, at most 5% flagged and
usually none) does not do. ``check_detector_quiet_on_clean_data`` checks the
``"auto"`` setting of every instance.

``HessianSpectrumDetector`` analyses a *fitted* model, so its instances wrap a
fixed torch model built only from layers that accept any number of input
features (``Tanh`` then ``AdaptiveAvgPool1d`` pools a flat ``(n, d)`` batch to
``(n, 4)`` whatever ``d``), followed by a linear layer with 10 logits. The
checks' data of any width can then be scored, and every label the checks pass
(small non-negative integers) is a valid class index.
"""


def _any_width_model():
    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Tanh(), torch.nn.AdaptiveAvgPool1d(4), torch.nn.Tanh(), torch.nn.Linear(4, 10)
    ).double()
    return model.eval()


def _hessian_detector():
    from sklpoison import HessianSpectrumDetector

    return [
        HessianSpectrumDetector(
            _any_width_model(), n_components=2, max_iter=5, contamination=0.05, random_state=0
        ),
        # n_components <= the checks' smallest number of features (more is a ValueError)
        HessianSpectrumDetector(
            _any_width_model(),
            n_components=2,
            curvature="gauss_newton",
            contamination=0.1,
            random_state=0,
        ),
    ]


def _clustering_detector():
    from sklpoison import ActivationClusteringDetector

    return [
        ActivationClusteringDetector(contamination=0.05),
        # three clusters from random starts, ICA, a float contamination
        ActivationClusteringDetector(
            n_components=2, n_clusters=3, reduce="ica", contamination=0.1, random_state=0
        ),
    ]


def _spectral_detector():
    from sklpoison import SpectralSignatureDetector

    return [
        SpectralSignatureDetector(contamination=0.05),
        SpectralSignatureDetector(standardize=False, contamination=0.1),
    ]


INSTANCES = {
    "ActivationClusteringDetector": _clustering_detector,
    "HessianSpectrumDetector": _hessian_detector,
    "SpectralSignatureDetector": _spectral_detector,
}
EXPECTED_FAILED_CHECKS = {
    "HessianSpectrumDetector": {
        "check_estimators_overwrite_params": (
            "the parameter `estimator` is a torch module, and joblib.hash of a torch tensor "
            "differs from the hash of its deepcopy (torch pickles storages by identity), so "
            "the check's before/after comparison fails although fit never modifies the model; "
            "tests/detection/test_detectors.py checks that fit leaves its state_dict and "
            "train/eval flags unchanged"
        ),
    },
}
