"""Finding a fold by name: ``"package.module:attribute"`` or ``"path/to/file.py:attribute"``.

Used by the command line (``eventkit state``) and by report configs, so both name folds the same
way and fail with the same clear messages.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import re
import sys
from pathlib import Path
from typing import Any

from eventkit.common.errors import InvalidFold


def load_fold(spec: str, *, base: Path | None = None, python_folds: bool = True) -> Any:
    """Import the fold that ``spec`` names.

    Args:
        spec: ``"module:attribute"`` (looked up from the current folder and ``base``) or
            ``"file.py:attribute"`` (relative to ``base``). The attribute may be dotted.
        base: The folder relative names start from (a report config's folder); default: cwd.
        python_folds: Accept :class:`eventkit.PyFold` objects (a PyFold subclass is instantiated).

    Returns:
        An :class:`eventkit.Fold` (or :class:`eventkit.PyFold`).

    Raises:
        InvalidFold: Not ``module:attribute``, the module fails to import, no such attribute, or
            it is not a fold.

    Example:
        >>> load_fold("examples.bank_folds:account")            # doctest: +SKIP
    """
    from eventkit.fold.declarative import Fold
    from eventkit.fold.python_fold import PyFold

    base = Path.cwd() if base is None else Path(base).expanduser()
    module_name, sep, attribute = spec.rpartition(":")
    if not (sep and module_name and attribute):
        raise InvalidFold(f"{spec!r} is not 'module:attribute' or 'file.py:attribute' (e.g. folds:account)")
    try:
        if module_name.endswith(".py") or "/" in module_name:
            file = Path(module_name).expanduser()  # "~/folds.py:account" is in the home folder, as the shell reads it
            module = _import_file(file if file.is_absolute() else base / file, spec)
        else:
            extra = [p for p in dict.fromkeys((str(Path.cwd()), str(base), str(base.parent))) if p not in sys.path]
            sys.path[:0] = extra
            try:
                module = importlib.import_module(module_name)
            finally:
                for p in extra:
                    sys.path.remove(p)
    except InvalidFold:
        raise
    except Exception as e:  # the user's module may raise anything while importing
        raise InvalidFold(f"cannot import {module_name!r} for {spec!r}: {type(e).__name__}: {e}") from None
    kinds = (Fold, PyFold) if python_folds else (Fold,)
    obj: Any = module
    for part in attribute.split("."):
        if not hasattr(obj, part):
            names = [n for n, v in vars(module).items() if isinstance(v, kinds)]
            close = difflib.get_close_matches(attribute, names, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; folds there: {names}"
            raise InvalidFold(f"{module_name!r} has no attribute {attribute!r}{hint}")
        obj = getattr(obj, part)
    if python_folds and isinstance(obj, type) and issubclass(obj, PyFold):
        obj = obj()  # a PyFold subclass with handlers declared by @ek.on
    if not isinstance(obj, kinds):
        wanted = "an ek.Fold or ek.PyFold" if python_folds else "an eventkit Fold (ek.Fold(...))"
        raise InvalidFold(f"{spec!r} is {type(obj).__name__}, not {wanted}")
    return obj


def _import_file(file: Path, spec: str) -> Any:
    if not file.is_file():
        raise InvalidFold(f"{spec!r}: no file {file}")
    mod_id = "_eventkit_folds_" + re.sub(r"\W", "_", str(file.resolve()))
    module = sys.modules.get(mod_id)
    if module is None:
        loader_spec = importlib.util.spec_from_file_location(mod_id, file)
        module = importlib.util.module_from_spec(loader_spec)  # type: ignore[arg-type]
        loader_spec.loader.exec_module(module)  # type: ignore[union-attr]
        sys.modules[mod_id] = module
    return module
