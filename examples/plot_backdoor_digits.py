"""
L-trigger backdoor on the digits, swept with GridSearchCV
=========================================================

A dirty-label backdoor: a fraction ``poison_rate`` of the training images of every
class but 0 get an L-shaped trigger in the bottom-right corner and the label 0.
Inside an imbalanced-learn ``Pipeline`` the poisoner acts on the training folds
only, so cross-validated accuracy is measured on clean images, and the attack
success rate (ASR) on clean images of other classes with the trigger stamped.
"""

# %%
import matplotlib.pyplot as plt
from imblearn.pipeline import make_pipeline
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.svm import SVC

from sklpoison import PoisonTransformer
from sklpoison.datasets import load_digits_images
from sklpoison.metrics import neg_asr_scorer
from sklpoison.plotting import TriggerDisplay

X, y = load_digits_images(return_X_y=True, flat=True)
poisoner = PoisonTransformer(target_class=0, trigger_size=3, image_shape=(8, 8), random_state=0)

# %%
# The trigger and three training images before and after stamping.
TriggerDisplay.from_poisoner(poisoner.fit(X, y), X[:3])

# %%
# Sweep the poison rate with 5-fold cross-validation.
poison_rates = [0.0, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1]
search = GridSearchCV(
    make_pipeline(poisoner, SVC()),
    {"poisontransformer__poison_rate": poison_rates},
    scoring={"clean_accuracy": "accuracy", "neg_asr": neg_asr_scorer},
    refit=False,
    cv=StratifiedKFold(5, shuffle=True, random_state=0),
).fit(X, y)

res = search.cv_results_
# neg_asr_scorer is greater-is-better (minus the attack success rate): negate it back
attack_success = -res["mean_test_neg_asr"] + 0.0
print(f"{'poison_rate':>7} {'clean accuracy':>15} {'attack success':>15}")
for poison_rate, acc, acc_sd, asr, asr_sd in zip(
    poison_rates,
    res["mean_test_clean_accuracy"],
    res["std_test_clean_accuracy"],
    attack_success,
    res["std_test_neg_asr"],
):
    print(f"{poison_rate:>7.4f} {acc:>9.3f}±{acc_sd:.3f} {asr:>9.3f}±{asr_sd:.3f}")

# %%
fig, ax = plt.subplots(figsize=(5, 3.5))
ax.errorbar(
    poison_rates, attack_success, res["std_test_neg_asr"], marker="o", label="attack success"
)
ax.errorbar(
    poison_rates,
    res["mean_test_clean_accuracy"],
    res["std_test_clean_accuracy"],
    marker="s",
    label="clean accuracy",
)
ax.set_xscale("symlog", linthresh=0.002)
ax.set_xlabel("poison rate θ")
ax.set_ylim(-0.05, 1.05)
ax.legend()
plt.show()
