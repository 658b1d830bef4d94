"""Training configuration shared by ``train.py`` and the agents: the algorithms, the
hyperparameter files and the JSON form of a run's configuration.

Hyperparameters are in rl-zoo3's YAML form (``agents/hyperparams/<algo>.yml``).

Top-level keys are env ids; each value maps hyperparameter names to values, as rl-zoo3 reads
them (``n_envs``, ``n_timesteps``, ``policy``, ``normalize`` and the algorithm's constructor
keywords). ``policy_kwargs`` may be rl-zoo3's string form ``"dict(net_arch=[64, 64])"``;
it is parsed (literals, lists, ``dict(...)`` and ``nn.<Activation>`` only), never ``eval``-ed.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any, Literal, get_args

import yaml

#: The algorithms train.py trains and ``SB3Agent`` loads (stable-baselines3 PPO, sb3-contrib
#: MaskablePPO, and ours: ``ppo_native``, masked PPO on the native vector env,
#: ``octogym.agents.ppo``). ``train.py --algo`` takes its choices from this type.
AlgoName = Literal["ppo", "maskable_ppo", "ppo_native"]
ALGOS: tuple[str, ...] = get_args(AlgoName)

HYPERPARAMS_DIR = Path(__file__).parent / "hyperparams"

# Keys consumed by train.py itself; everything else goes to the algorithm's constructor.
# ``pretrain`` is ours (not rl-zoo3's): an imitation warm start before PPO, see
# ``octogym.agents.imitation.imitate`` (a teacher scheduler name, or
# "dict(teacher='adaptive', samples=..., ...)").
TRAIN_KEYS = {"n_envs", "n_timesteps", "policy", "normalize", "pretrain"}
ALGO_KEYS = {"n_steps", "batch_size", "n_epochs", "learning_rate", "gamma", "gae_lambda",
             "clip_range", "clip_range_vf", "normalize_advantage", "ent_coef", "vf_coef",
             "max_grad_norm", "target_kl", "stats_window_size", "policy_kwargs", "use_sde",
             "sde_sample_freq"}
#: Keys only ``ppo_native`` reads (``octogym.agents.ppo.PPOConfig``: the variance-reduction
#: options, the policy's thread count and the episode-length curriculum); the SB3 algorithms
#: reject them.
NATIVE_KEYS = {"time_discount", "input_baseline", "shaping", "torch_threads", "curriculum"}
KNOWN_KEYS = TRAIN_KEYS | ALGO_KEYS | NATIVE_KEYS


def hyperparams_path(algo: str) -> Path:
    return HYPERPARAMS_DIR / f"{algo}.yml"


def load_hyperparams(algo: str, env_id: str, path: str | Path | None = None) -> dict[str, Any]:
    """The hyperparameters of ``env_id`` in ``path`` (default: the bundled ``<algo>.yml``).

    Raises ``FileNotFoundError`` (no file), ``KeyError`` (env id not in the file, listing
    those that are) or ``ValueError`` (unknown hyperparameter names, a bad ``policy_kwargs``).
    ``policy_kwargs`` comes back as a dict.
    """
    path = Path(path) if path is not None else hyperparams_path(algo)
    if not path.is_file():
        raise FileNotFoundError(f"hyperparameter file {path} not found")
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of env ids, got {type(data).__name__}")
    if env_id not in data:
        raise KeyError(f"{path}: no hyperparameters for env {env_id!r}; it has "
                       f"{sorted(data)}")
    hp = dict(data[env_id] or {})
    unknown = set(hp) - KNOWN_KEYS
    if unknown:
        raise ValueError(f"{path} [{env_id}]: unknown hyperparameters {sorted(unknown)}; "
                         f"known: {sorted(KNOWN_KEYS)}")
    native_only = sorted(set(hp) & NATIVE_KEYS)
    if native_only and algo != "ppo_native":
        raise ValueError(f"{path} [{env_id}]: {native_only} are ppo_native hyperparameters, "
                         f"not {algo}'s")
    if isinstance(hp.get("policy_kwargs"), str):
        hp["policy_kwargs"] = parse_kwargs_string(hp["policy_kwargs"])
    if isinstance(hp.get("normalize"), str):
        hp["normalize"] = parse_kwargs_string(hp["normalize"])
    if isinstance(hp.get("curriculum"), str):
        hp["curriculum"] = parse_kwargs_string(hp["curriculum"])
    if isinstance(hp.get("pretrain"), str) and hp["pretrain"].lstrip().startswith("dict("):
        hp["pretrain"] = parse_kwargs_string(hp["pretrain"])
    for key in ("n_envs", "n_timesteps", "n_steps", "batch_size", "n_epochs",
                "input_baseline", "torch_threads"):
        if key in hp:
            hp[key] = int(hp[key])
    return hp


def parse_kwargs_string(text: str) -> Any:
    """rl-zoo3's ``"dict(net_arch=[64, 64], activation_fn=nn.Tanh)"`` as a Python value."""
    try:
        return _value(ast.parse(text, mode="eval").body)
    except (SyntaxError, ValueError) as e:
        raise ValueError(f"cannot parse {text!r}: {e}") from None


def _value(node: ast.AST) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, (ast.List, ast.Tuple)):
        items = [_value(n) for n in node.elts]
        return items if isinstance(node, ast.List) else tuple(items)
    if isinstance(node, ast.Dict):
        return {_value(k): _value(v) for k, v in zip(node.keys, node.values, strict=True)}
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict":
        if node.args:
            raise ValueError("dict(...) takes keyword arguments only")
        return {kw.arg: _value(kw.value) for kw in node.keywords}
    if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
            and node.value.id == "nn"):
        from torch import nn
        fn = getattr(nn, node.attr, None)
        if not isinstance(fn, type) or not issubclass(fn, nn.Module):
            raise ValueError(f"nn.{node.attr} is not a torch module")
        return fn
    raise ValueError(f"unsupported expression {ast.dump(node)[:60]}")


def jsonable(x: Any) -> Any:
    """``x`` as it reads back from JSON (classes such as ``nn.Tanh`` by their name, other
    objects by ``str``): what ``config.json`` stores, and how configurations are compared."""
    return json.loads(json.dumps(x, default=lambda o: getattr(o, "__name__", str(o))))


def normalises(hp: dict[str, Any], what: str = "any") -> bool:
    """Whether hyperparameters ``hp`` wrap the training env in ``VecNormalize``
    (``what="any"``) or normalise its observations (``what="obs"``; ``VecNormalize``'s
    ``norm_obs`` defaults to true)."""
    norm = hp.get("normalize", False)
    if what == "obs" and isinstance(norm, dict):
        return bool(norm.get("norm_obs", True))
    return bool(norm)
