"""Numerical building blocks shared by several estimators (no estimators here).

- :mod:`sklpoison.numerics.kernels`: kernel matrices and their input derivatives.
- ``_lanczos`` (private): Hessian-vector products and (batched) Lanczos.
- ``_input_hessian`` (private): adapters giving a model's per-sample input-Hessian
  products.
- ``_param_gradients`` (private): adapters giving a model's per-sample parameter
  gradients.
- :mod:`sklpoison.numerics.interval`: interval arithmetic with outward rounding.
- :mod:`sklpoison.numerics.rounding`: unit roundoff, Higham's gamma_n and directed rounding.

Importing this subpackage imports none of torch, skorch or cvxpy.
"""
