"""Static analysis of one parsed module: what it imports, where it puts tensors, how heavy its work is.

Two steps per module. `collect` walks the syntax tree once (iteratively, with a depth guard) and keeps the
facts that need context: imports, assignments (for following values through variables), function return
values, calls and the `if`/`try`/loop context each call sits in. `Analyser.run` then turns those facts into
`Evidence`, following names through assignments in this module and in the handler's other modules.
Nothing here imports or executes the user's code.
"""

from __future__ import annotations

import ast
import shlex
import sys
from dataclasses import dataclass, field, replace

from . import knowledge
from .platform import GPU_IMAGE, GPU_NAME, pip_packages
from .result import Evidence

MAX_DEPTH = 120  # syntax-tree nesting beyond which a subtree is skipped (real code stays far below)
MAX_VALUES = 16  # possible values kept per expression
MAX_RESOLVE_DEPTH = 10

UNKNOWN = object()  # a value the classifier cannot know statically (request data, computed values)

_DEVICE_WORDS = ("cuda", "gpu", "device", "mps", "accelerat", "is_available", "device_count", "nvidia")
_GPU_WORDS = ("cuda", "gpu", "nvidia")
# Calls and attributes that only ask about the device (or set up the process): no work runs on it.
_DEVICE_QUERIES = ("torch.cuda.is_available", "torch.cuda.device_count", "torch.cuda.get_device_name",
                   "torch.cuda.get_device_capability", "torch.cuda.get_device_properties", "torch.cuda.current_device",
                   "torch.cuda.mem_get_info", "torch.cuda.memory_allocated", "torch.cuda.memory_reserved",
                   "torch.cuda.max_memory_allocated", "torch.cuda.is_initialized", "torch.cuda.empty_cache",
                   "torch.cuda.set_device", "torch.cuda.device", "torch.backends", "torch.version", "torch.device",
                   "torch.set_num_threads", "torch.get_num_threads", "torch.manual_seed", "torch.cuda.manual_seed",
                   "torch.set_grad_enabled", "torch.cuda.synchronize", "tensorflow.config", "tensorflow.test",
                   "tensorflow.sysconfig", "tensorflow.version", "jax.devices", "jax.device_count", "jax.local_devices",
                   "jax.default_backend", "onnxruntime.get_available_providers", "onnxruntime.get_device",
                   "torch.cuda", "tensorflow.debugging.set_log_device_placement")
# Methods that move or configure a model without running it.
_NOT_RUNNING = {"to", "eval", "cuda", "cpu", "half", "float", "bfloat16", "train", "requires_grad_", "share_memory",
                "load_state_dict", "tie_weights", "gradient_checkpointing_enable"}
_SUBPROCESS_CALLS = {"subprocess.run", "subprocess.Popen", "subprocess.call", "subprocess.check_call",
                     "subprocess.check_output", "os.system", "os.popen", "os.execvp", "os.execv", "os.spawnvp",
                     "asyncio.create_subprocess_exec", "asyncio.create_subprocess_shell", "sh.Command", "pexpect.spawn"}
_PLATFORM_KEYWORDS = {"resources", "ray_actor_options", "instance_type", "accelerator_type", "machine_type",
                      "accelerator", "compute_target", "image_uri"}
_TRAINING_EPOCHS = {"epochs", "num_epochs", "max_epochs", "num_train_epochs", "n_epochs", "nb_epoch", "max_steps"}
# Keyword arguments that carry an input image size (pixels per image).
_IMAGE_SIZE_KEYWORDS = {"target_size", "input_shape", "imgsz", "img_size", "image_size", "size", "dsize"}
_CUDA_ONLY_OPS = {"synchronize", "set_device", "current_device", "get_device_name", "get_device_properties",
                  "get_device_capability", "get_arch_list",
                  "mem_get_info", "Event", "Stream", "max_memory_allocated", "memory_reserved"}
_CUDA_TENSOR_TYPES = {"FloatTensor", "HalfTensor", "DoubleTensor", "LongTensor", "IntTensor", "BFloat16Tensor",
                      "ByteTensor", "BoolTensor"}
_HALF_NAMES = {"float16", "half", "bfloat16"}
_GPU_PROVIDERS = ("CUDAExecutionProvider", "TensorrtExecutionProvider")
_NOT_MODELS = ("Tokenizer", "Processor", "FeatureExtractor", "Config", "ImageProcessor")
_MODEL_KEYWORDS = ("model", "model_name", "model_id", "model_name_or_path", "pretrained_model_name_or_path",
                   "repo_id", "checkpoint", "model_path")
_TOKEN_KEYWORDS = {"max_new_tokens": knowledge.MANY_NEW_TOKENS, "max_tokens": knowledge.MANY_NEW_TOKENS,
                   "n_predict": knowledge.MANY_NEW_TOKENS, "max_length": knowledge.LONG_MAX_LENGTH}
_SAMPLING_KEYWORDS = {"do_sample", "num_beams", "temperature", "top_k", "top_p", "num_return_sequences",
                      "min_length", "repetition_penalty"}
# Dict-literal keys that place work on a device ({"device": "cuda"}, xgboost {"tree_method": "gpu_hist"}).
_DICT_DEVICE_KEYS = {"device", "device_map", "tree_method", "predictor", "task_type", "gpu_id", "device_type"}
_ARRAY_LIBRARIES = ("numpy.", "pandas.", "scipy.")
_LIMIT_KEYWORDS = {"max_new_tokens", "max_tokens", "n_predict", "max_length", "batch_size"}
# Methods of model objects whose keyword limits describe the work of a request.
_MODEL_METHODS = {"generate", "encode", "predict", "predict_on_batch", "transcribe", "embed", "embed_documents",
                  "embed_query", "create_completion", "create_chat_completion", "GenerationConfig", "SamplingParams",
                  "DataLoader", "fit", "train", "infer", "forward"}
_IMPORT_FAILURES = {"ImportError", "ModuleNotFoundError", "Exception", "BaseException"}


@dataclass(frozen=True)
class Context:
    """Where a node sits: under a device test (if/else, try/except falling back to CPU), in loops, in a function."""

    guarded: bool = False
    optional_import: bool = False
    loops: tuple = ()
    function: str | None = None


@dataclass
class Module:
    """The facts `collect` keeps about one module."""

    rel: str
    imports: dict = field(default_factory=dict)  # local name -> qualified dotted name
    import_sites: list = field(default_factory=list)  # (qualified module, local name, line, optional)
    assigns: dict = field(default_factory=dict)  # "name" / "self.attr" -> [value node | None]
    returns: dict = field(default_factory=dict)  # function name -> [returned value nodes]
    loaded: set = field(default_factory=set)  # names read anywhere
    calls: list = field(default_factory=list)  # (Call node, Context)
    attributes: list = field(default_factory=list)  # (Attribute node, Context) worth a look
    matmuls: list = field(default_factory=list)  # (line, Context) of `a @ b`
    device_dicts: list = field(default_factory=list)  # (key, value node, line, Context) from dict literals
    cuda_required: list = field(default_factory=list)  # lines that assert/raise when CUDA is missing
    visible_devices: list = field(default_factory=list)  # (line, value) of os.environ["CUDA_VISIBLE_DEVICES"] = ...
    chains: list = field(default_factory=list)  # (dotted name, node) of every outermost `a.b.c` that is read
    bare: list = field(default_factory=list)  # (name, node) of every name read on its own
    functions: dict = field(default_factory=dict)  # name -> (line, argument names, annotation names)
    classes: list = field(default_factory=list)  # (name, line, base names)
    class_inits: dict = field(default_factory=dict)  # class name -> (line, parameter names of __init__ after self)
    unguarding: set = field(default_factory=set)  # ids of `if <gpu available>: return ...` tests followed by raise
    errors: list = field(default_factory=list)


def _dotted(node) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def _mentions(node, words) -> bool:
    """Whether a name, attribute or string inside `node` contains one of `words` (lower case)."""
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name):
            text = sub.id.lower()
        elif isinstance(sub, ast.Attribute):
            text = sub.attr.lower()
        elif isinstance(sub, ast.Constant) and isinstance(sub.value, str):
            text = sub.value.lower()
        else:
            continue
        if any(word in text for word in words):
            return True
    return False


def _mentions_device(node) -> bool:
    """Whether a test expression is about the device (cuda availability, a use_gpu flag, device == "cuda")."""
    return _mentions(node, _DEVICE_WORDS)


def _mentions_gpu(node) -> bool:
    """Whether an expression names the GPU itself (cuda, gpu, nvidia), not just "the device"."""
    return _mentions(node, _GPU_WORDS)


def _mentions_cpu(nodes) -> bool:
    for node in nodes:
        for sub in ast.walk(node):
            if isinstance(sub, ast.Constant) and isinstance(sub.value, str) and "cpu" in sub.value.lower():
                return True
            if isinstance(sub, (ast.Name, ast.Attribute)) and "cpu" in (getattr(sub, "id", None) or getattr(sub, "attr", "")).lower():
                return True
    return False


def _handler_names(handler: ast.ExceptHandler) -> set:
    if handler.type is None:
        return {"BaseException"}
    types = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return {_dotted(t) or "" for t in types}


def _stops(statements) -> bool:
    """Whether a block starts by giving up: `raise ...` or `sys.exit(...)`."""
    if not statements:
        return False
    first = statements[0]
    if isinstance(first, ast.Raise):
        return True
    return isinstance(first, ast.Expr) and isinstance(first.value, ast.Call) \
        and _dotted(first.value.func) in ("sys.exit", "exit", "os._exit")


def _leaves(statements) -> bool:
    """Whether a block ends by leaving its function or loop (return, raise, continue, break, sys.exit)."""
    if not statements:
        return False
    last = statements[-1]
    return isinstance(last, (ast.Return, ast.Raise, ast.Continue, ast.Break)) or _stops([last])


def _push_block(module, stack: list, statements, ctx: Context, depth: int) -> None:
    """Queue a block's statements; after `if not <gpu available>: return ...` the rest of the block is guarded.

    `if <gpu available>: return <cuda>` followed by `raise` is no fallback: the block needs the GPU."""
    for index, statement in enumerate(statements):
        stack.append((statement, ctx, depth))
        if isinstance(statement, ast.If) and not statement.orelse and _leaves(statement.body) \
                and not _negative(statement.test) and _mentions_gpu(statement.test) \
                and _stops(statements[index + 1:index + 2]):
            module.unguarding.add(id(statement))
            module.cuda_required.append(statements[index + 1].lineno)
            continue
        if not ctx.guarded and isinstance(statement, ast.If) and _mentions_device(statement.test) \
                and _leaves(statement.body):
            ctx = Context(True, ctx.optional_import, ctx.loops, ctx.function)


def _negative(test) -> bool:
    """Whether a test is true when the thing it names is missing (`not x`, `x not in y`, `x is None`, `x == "cpu"`)."""
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        return True
    if isinstance(test, ast.Compare) and len(test.ops) == 1:
        op, right = test.ops[0], test.comparators[0]
        if isinstance(op, ast.NotIn):
            return True
        if isinstance(right, ast.Constant):
            if isinstance(op, (ast.Is, ast.Eq)) and (right.value in (None, 0, False, "") or right.value == "cpu"):
                return True
            if isinstance(op, ast.Lt) and right.value == 1:
                return True
            if isinstance(op, ast.NotEq) and isinstance(right.value, str) and "cuda" in right.value.lower():
                return True
    return False


def _requires_gpu(node: ast.If) -> bool:
    """`if not <gpu>: raise` / `if "CUDAExecutionProvider" not in providers: raise` / `if <gpu>: ... else: raise`.

    A test that also names the CPU (`if device not in ("cpu", "cuda"): raise`) validates input instead."""
    if not _mentions_gpu(node.test) or _mentions_cpu([node.test]) and not _negative(node.test):
        return False
    if isinstance(node.test, ast.Compare) and any(isinstance(c, (ast.Tuple, ast.List, ast.Set)) and _mentions_cpu([c])
                                                  for c in node.test.comparators):
        return False
    return _stops(node.body) if _negative(node.test) else _stops(node.orelse)


def _is_availability_check(node) -> bool:
    """Whether a test asks if a GPU is there: torch.cuda.is_available(), cuda.device_count(), tf.test.is_gpu_available().

    A bare `writer.is_available()` is about something else."""
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call):
            dotted = (_dotted(sub.func) or "").lower()
            name = dotted.rsplit(".", 1)[-1]
            if name in ("is_available", "device_count", "is_gpu_available", "is_built_with_cuda") \
                    and ("cuda" in dotted or "gpu" in dotted):
                return True
    return False


def collect(tree: ast.Module, rel: str) -> Module:
    """Walk the tree once and keep the facts `analyse` needs."""
    module = Module(rel)
    stack = [(tree, Context(), 0)]
    too_deep_reported = False
    while stack:
        node, ctx, depth = stack.pop()
        if depth > MAX_DEPTH:
            if not too_deep_reported:
                module.errors.append(f"{rel}:{getattr(node, 'lineno', '?')}: expression nested deeper than "
                                     f"{MAX_DEPTH} levels; the inner part was not analysed")
                too_deep_reported = True
            continue
        kind = type(node)
        if kind is ast.Name:
            if isinstance(node.ctx, ast.Load):
                module.loaded.add(node.id)
                module.bare.append((node.id, node))
            continue
        if kind is ast.Attribute and isinstance(node.ctx, ast.Load):
            dotted = _dotted(node)
            if dotted is not None:  # a plain chain: keep it whole, and look at each link for CUDA/half names
                module.chains.append((dotted, node))
                module.loaded.add(dotted.split(".", 1)[0])
                sub = node
                while isinstance(sub, ast.Attribute):
                    if sub.attr in _HALF_NAMES or sub.attr in _CUDA_TENSOR_TYPES or sub.attr.startswith("DNN_") \
                            or sub.attr == "cuda":
                        module.attributes.append((sub, ctx))
                    sub = sub.value
                continue
        if kind is ast.Module:
            _push_block(module, stack, node.body, ctx, depth + 1)
            continue
        if kind is ast.Import:
            for alias in node.names:
                local = alias.asname or alias.name.split(".")[0]
                module.imports[local] = alias.name if alias.asname else alias.name.split(".")[0]
                module.import_sites.append((alias.name, local, node.lineno, ctx.optional_import))
            continue
        if kind is ast.ImportFrom:
            base = node.module or ""
            for alias in node.names:
                qualified = f"{base}.{alias.name}" if base else alias.name
                if alias.name == "*":
                    module.import_sites.append((base, "*", node.lineno, ctx.optional_import))
                    continue
                local = alias.asname or alias.name
                module.imports[local] = qualified
                module.import_sites.append((qualified, local, node.lineno, ctx.optional_import))
            continue
        if kind is ast.Assign or kind is ast.AnnAssign or kind is ast.AugAssign:
            targets = node.targets if kind is ast.Assign else [node.target]
            value = None if kind is ast.AugAssign else node.value
            for target in targets:
                if isinstance(target, ast.Subscript) and isinstance(target.slice, ast.Constant) \
                        and target.slice.value == "CUDA_VISIBLE_DEVICES":
                    module.visible_devices.append((node.lineno, value))
                if isinstance(target, ast.Tuple) and isinstance(value, ast.Tuple) and len(target.elts) == len(value.elts):
                    for sub_target, sub_value in zip(target.elts, value.elts):
                        _remember(module, sub_target, sub_value)
                else:
                    _remember(module, target, value)
        elif kind is ast.FunctionDef or kind is ast.AsyncFunctionDef:
            args = node.args
            positional = args.posonlyargs + args.args
            for arg, default in zip(positional[len(positional) - len(args.defaults):], args.defaults):
                module.assigns.setdefault(arg.arg, []).append(default)
            for arg, default in zip(args.kwonlyargs, args.kw_defaults):
                if default is not None:
                    module.assigns.setdefault(arg.arg, []).append(default)
            module.returns.setdefault(node.name, [])
            module.functions[node.name] = (node.lineno, [a.arg for a in positional + args.kwonlyargs],
                                           [_dotted(a.annotation) or "" for a in positional if a.annotation])
            inner = Context(ctx.guarded, ctx.optional_import, ctx.loops, node.name)
            _push_block(module, stack, node.body, inner, depth + 1)
            for child in node.decorator_list + args.defaults + [d for d in args.kw_defaults if d is not None]:
                stack.append((child, ctx, depth + 1))
            continue
        elif kind is ast.Return:
            if ctx.function is not None and node.value is not None:
                module.returns.setdefault(ctx.function, []).append(node.value)
        elif kind is ast.ClassDef:
            module.classes.append((node.name, node.lineno, [_dotted(b) or "" for b in node.bases]))
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name == "__init__":
                    params = [a.arg for a in item.args.posonlyargs + item.args.args][1:]
                    module.class_inits[node.name] = (item.lineno, params + [a.arg for a in item.args.kwonlyargs])
        elif kind is ast.If or kind is ast.IfExp:
            guarded = ctx.guarded or (_mentions_device(node.test) and id(node) not in module.unguarding)
            if kind is ast.If and (_requires_gpu(node) or _is_availability_check(node.test) and _stops(
                    node.body if _negative(node.test) else node.orelse)):
                module.cuda_required.append(node.lineno)
            branch_ctx = Context(guarded, ctx.optional_import, ctx.loops, ctx.function)
            stack.append((node.test, ctx, depth + 1))
            if kind is ast.If:
                _push_block(module, stack, node.body, branch_ctx, depth + 1)
                _push_block(module, stack, node.orelse, branch_ctx, depth + 1)
            else:
                stack.append((node.body, branch_ctx, depth + 1))
                stack.append((node.orelse, branch_ctx, depth + 1))
            continue
        elif kind is ast.Try or kind is getattr(ast, "TryStar", None):
            caught = set().union(*(_handler_names(h) for h in node.handlers)) if node.handlers else set()
            falls_back = _mentions_cpu(node.handlers)
            body_ctx = Context(ctx.guarded or falls_back, ctx.optional_import or bool(caught & _IMPORT_FAILURES),
                               ctx.loops, ctx.function)
            _push_block(module, stack, node.body, body_ctx, depth + 1)
            for child in node.handlers + node.orelse + node.finalbody:
                stack.append((child, ctx, depth + 1))
            continue
        elif kind is ast.For or kind is ast.AsyncFor or kind is ast.While:
            loop = node.iter if kind is not ast.While else None
            body_ctx = Context(ctx.guarded, ctx.optional_import, ctx.loops + (loop,), ctx.function)
            _push_block(module, stack, node.body, body_ctx, depth + 1)
            for child in ([node.iter, node.target] if loop is not None else [node.test]) + node.orelse:
                stack.append((child, ctx, depth + 1))
            continue
        elif kind is ast.Assert:
            if _is_availability_check(node.test) or _mentions_gpu(node.test) and not _mentions_cpu([node.test]) \
                    and not _negative(node.test):
                module.cuda_required.append(node.lineno)
        elif kind is ast.Call:
            module.calls.append((node, ctx))
        elif kind is ast.Attribute:  # a link of `f().attr` (plain chains were kept whole above)
            if node.attr in _HALF_NAMES or node.attr in _CUDA_TENSOR_TYPES or node.attr.startswith("DNN_") \
                    or node.attr == "cuda":
                module.attributes.append((node, ctx))
        elif kind is ast.BinOp:
            if isinstance(node.op, ast.MatMult):
                module.matmuls.append((node.lineno, ctx))
        elif kind is ast.Dict:
            for key, value in zip(node.keys, node.values):
                if isinstance(key, ast.Constant) and key.value in _DICT_DEVICE_KEYS:
                    module.device_dicts.append((key.value, value, key.lineno, ctx))
        for child in ast.iter_child_nodes(node):
            stack.append((child, ctx, depth + 1))
    return module



def _remember(module: Module, target, value) -> None:
    key = _dotted(target)
    if key is not None and key.count(".") <= 2:
        module.assigns.setdefault(key, []).append(value)


def _snippet(node, limit: int = 80) -> str:
    try:
        text = ast.unparse(node)
    except (RecursionError, ValueError, AttributeError):
        return "<expression>"
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


class Project:
    """All parsed modules of one handler, so values can be followed across `from config import DEVICE`."""

    def __init__(self, modules: list[Module], installed=None):
        self.modules = modules
        self.installed = installed  # an installed.Installed, or None for the knowledge tables only
        self.counted: set[str] | None = None  # modules whose code runs per request (None: all)
        self._import_cache: dict[str, tuple] = {}
        self._uses_cache: dict[str, bool] = {}
        self.by_name: dict[str, Module] = {}
        for module in modules:
            dotted = module.rel[:-3].replace("/", ".") if module.rel.endswith(".py") else module.rel
            if dotted.endswith(".__init__"):
                dotted = dotted[: -len(".__init__")]
            self.by_name.setdefault(dotted, module)
            self.by_name.setdefault(dotted.rsplit(".", 1)[-1], module)

    def classify_import(self, qualified: str) -> tuple[str | None, str | None]:
        """Like `classify_import`, then the installed distributions for a top-level name the tables do not know:
        ('label', 'dl') for a library built on a framework, ('label', 'plain') for any other installed one."""
        label, category = classify_import(qualified)
        if label is not None or self.installed is None:
            return label, category
        top = qualified.split(".", 1)[0]
        if top not in self._import_cache:
            verdict = None
            if top and top not in sys.stdlib_module_names and top not in knowledge.PLAIN_LIBRARIES \
                    and top not in self.by_name:
                verdict = self.installed.classify(top)
            self._import_cache[top] = (verdict[0], "dl" if verdict[1] == "dl" else "plain") if verdict else (None, None)
        return self._import_cache[top]

    def uses(self, key: str) -> bool:
        """Whether a value bound to `key` ("model", "self.model") is read anywhere for more than moving it
        between devices (`model(x)`, `model.generate(...)`, `pipeline(model=model)`, `return model`)."""
        if key not in self._uses_cache:
            last = key.rsplit(".", 1)[-1]
            dotted = "." in key
            used = False
            for module in self.modules:
                if self.counted is not None and module.rel not in self.counted:
                    continue
                if not dotted and any(name == key for name, _ in module.bare):
                    used = True
                    break
                for returned in (node for nodes in module.returns.values() for node in nodes):
                    while isinstance(returned, ast.Call) and isinstance(returned.func, ast.Attribute) \
                            and returned.func.attr in _NOT_RUNNING:
                        returned = returned.func.value
                    if _dotted(returned) == key:  # handed to the caller (`return pipe.to(device)`)
                        used = True
                        break
                if used:
                    break
                for chain, _ in module.chains:
                    parts = chain.split(".")
                    for index, part in enumerate(parts):
                        if part == last and (index > 0 if dotted else index == 0):
                            following = parts[index + 1] if index + 1 < len(parts) else None
                            if following is None or following not in _NOT_RUNNING:
                                used = True
                                break
                    if used:
                        break
                if used:
                    break
            self._uses_cache[key] = used
        return self._uses_cache[key]

    def local_module(self, qualified: str) -> Module | None:
        """The handler's own module that an import of `qualified` loads, if any (longest matching prefix)."""
        if qualified.startswith("__app__."):  # Azure Functions' name for the function app's root
            qualified = qualified[len("__app__."):]
        parts = qualified.split(".")
        for end in range(len(parts), 0, -1):
            name = ".".join(parts[:end])
            if name in self.by_name:
                return self.by_name[name]
        return None

    def reachable(self, entries: list[Module]) -> set[str]:
        """Relative names of the modules the entry modules import, directly or through each other."""
        seen = {module.rel for module in entries}
        pending = list(entries)
        while pending:
            module = pending.pop()
            for qualified, _, _, _ in module.import_sites:
                target = self.local_module(qualified)
                if target is not None and target.rel not in seen:
                    seen.add(target.rel)
                    pending.append(target)
        return seen

    def local_target(self, qualified: str):
        """(module, attribute) if `qualified` names something defined in one of the handler's own modules."""
        head, _, attribute = qualified.rpartition(".")
        if head in self.by_name:
            return self.by_name[head], attribute
        if head and head.rsplit(".", 1)[-1] in self.by_name:
            return self.by_name[head.rsplit(".", 1)[-1]], attribute
        return None


class Analyser:
    """Turns one module's facts into evidence, following values through the project."""

    def __init__(self, project: Project, module: Module):
        self.project = project
        self.module = module
        self.evidence: list[Evidence] = []
        self.frameworks: set[str] = set()
        self.shapes: list = []  # (line, library, elements, enclosing loop iterations) of literal-shape tensors
        self.packages: list = []  # (line, requirement text) the code asks its platform image to install
        self.programs: set = set()  # names of programs run through subprocess
        self._values_cache: dict = {}
        self._idle: set = set()  # ids of calls that load a model nobody runs, and of the calls that move it
        self._has_model = False  # a model object exists (loaded, or an nn.Module / keras.Model defined)

    # ---------- values ----------
    def qualname(self, node, module: Module | None = None) -> str | None:
        module = module or self.module
        dotted = _dotted(node)
        if dotted is None:
            return None
        head, _, rest = dotted.partition(".")
        if head in module.imports:
            base = module.imports[head]
            return f"{base}.{rest}" if rest else base
        return dotted

    def values(self, node, module: Module | None = None, depth: int = 0) -> frozenset:
        module = module or self.module
        if node is None or depth > MAX_RESOLVE_DEPTH:
            return frozenset([UNKNOWN])
        kind = type(node)
        if kind is ast.Constant:
            return frozenset([node.value])
        if kind is ast.JoinedStr:
            prefix = node.values[0].value if node.values and isinstance(node.values[0], ast.Constant) else ""
            return frozenset([prefix]) if prefix else frozenset([UNKNOWN])
        if kind is ast.Name or kind is ast.Attribute:
            return self._resolve(node, module, depth)
        if kind is ast.IfExp:
            return self._cap(self.values(node.body, module, depth + 1) | self.values(node.orelse, module, depth + 1))
        if kind is ast.BoolOp:
            result = frozenset()
            for value in node.values:
                result |= self.values(value, module, depth + 1)
            return self._cap(result)
        if kind is ast.BinOp:
            return self._binop(node, module, depth)
        if kind is ast.UnaryOp and isinstance(node.op, ast.USub):
            return frozenset(-v if isinstance(v, (int, float)) and not isinstance(v, bool) else UNKNOWN
                             for v in self.values(node.operand, module, depth + 1))
        if kind is ast.Call:
            return self._call_values(node, module, depth)
        if kind is ast.Tuple or kind is ast.List:
            items = []
            for element in node.elts:
                options = self.values(element, module, depth + 1)
                known = [v for v in options if v is not UNKNOWN]
                items.append(max(known, key=_sort_key) if known else UNKNOWN)
            return frozenset([tuple(items)])
        if kind is ast.Subscript and isinstance(node.value, ast.Call):
            return self.values(node.value, module, depth + 1)
        if kind is ast.Subscript and isinstance(node.value, ast.Name):
            return self._lookup(node, module, depth)
        return frozenset([UNKNOWN])

    def _lookup(self, node: ast.Subscript, module: Module, depth: int) -> frozenset:
        """MODELS[size] where MODELS is a dict literal: the entry for the known key(s), else any entry."""
        tables = [v for v in module.assigns.get(node.value.id, []) if isinstance(v, ast.Dict)]
        if not tables:
            return frozenset([UNKNOWN])
        keys = self.values(node.slice, module, depth + 1)
        chosen = [value for table in tables for key, value in zip(table.keys, table.values)
                  if isinstance(key, ast.Constant) and key.value in keys]
        if not chosen:
            chosen = [value for table in tables for value in table.values]
        return self._union(chosen, module, depth)

    @staticmethod
    def _cap(values: frozenset) -> frozenset:
        return values if len(values) <= MAX_VALUES else frozenset(list(values)[:MAX_VALUES])

    def _resolve(self, node, module: Module, depth: int) -> frozenset:
        key = _dotted(node)
        if key is None:
            return frozenset([UNKNOWN])
        head = key.split(".", 1)[0]
        if key not in module.assigns and key.count(".") == 1 and head not in module.imports:
            # a class attribute or settings field (DEVICE = "cuda" in a class body) read as self.DEVICE,
            # Config.DEVICE or settings.DEVICE
            key = key.split(".", 1)[1]
        if key in module.assigns:
            return self._memo(("name", module.rel, key), lambda: self._union(module.assigns[key], module, depth))
        qualified = self.qualname(node, module)
        if qualified:
            target = self.project.local_target(qualified)
            if target is not None and target[0] is not module and target[1] in target[0].assigns:
                other, attribute = target
                return self._resolve(ast.Name(id=attribute), other, depth + 1)
        return frozenset([UNKNOWN])

    def _binop(self, node, module: Module, depth: int) -> frozenset:
        lefts = self.values(node.left, module, depth + 1)
        rights = self.values(node.right, module, depth + 1)
        out = set()
        for left in lefts:
            for right in rights:
                out.add(_apply(node.op, left, right))
                if len(out) >= MAX_VALUES:
                    return frozenset(out)
        return frozenset(out)

    def _call_values(self, node: ast.Call, module: Module, depth: int) -> frozenset:
        qualified = self.qualname(node.func, module) or ""
        method = qualified.rsplit(".", 1)[-1] if qualified else getattr(node.func, "attr", "")
        args = node.args
        if method in ("getenv", "get") and len(args) >= 2:
            default = self.values(args[1], module, depth + 1)
            return default if "environ" in qualified or method == "getenv" else default | {UNKNOWN}
        if method in ("getenv", "get", "setdefault"):
            return frozenset([UNKNOWN])
        if qualified in ("int", "float", "str") and args:
            return frozenset(_convert(qualified, v) for v in self.values(args[0], module, depth + 1))
        if qualified.endswith(".device") and args:
            return self.values(args[0], module, depth + 1)
        if qualified in ("torch.cuda.current_device", "mxnet.gpu", "mxnet.context.gpu"):
            return frozenset(["cuda"])
        if qualified in ("mxnet.cpu", "mxnet.context.cpu"):
            return frozenset(["cpu"])
        if qualified == "jax.devices" and args:
            return self.values(args[0], module, depth + 1)
        if isinstance(node.func, ast.Name) and node.func.id in module.returns:
            return self._returns(module, node.func.id, depth)
        target = self.project.local_target(qualified) if qualified else None
        if target is not None and target[1] in target[0].returns:
            return self._returns(target[0], target[1], depth)
        return frozenset([UNKNOWN])

    def _returns(self, module: Module, function: str, depth: int) -> frozenset:
        return self._memo(("returns", module.rel, function),
                          lambda: self._union(module.returns[function], module, depth) or frozenset([UNKNOWN]))

    def _union(self, nodes, module: Module, depth: int) -> frozenset:
        result = frozenset()
        for value in nodes:
            result |= self.values(value, module, depth + 1)
            if len(result) > MAX_VALUES:
                break
        return self._cap(result)

    def _memo(self, key: tuple, compute) -> frozenset:
        """Each name's values are computed once; a name that refers to itself (x = x + 1) reads as unknown."""
        if key not in self._values_cache:
            self._values_cache[key] = frozenset([UNKNOWN])  # in progress: cycles stop here
            self._values_cache[key] = compute()
        return self._values_cache[key]

    def strings(self, node) -> list[str]:
        return [v for v in self.values(node) if isinstance(v, str) and v]

    def numbers(self, node) -> list:
        return [v for v in self.values(node) if isinstance(v, (int, float)) and not isinstance(v, bool)]

    # ---------- evidence ----------
    def add(self, line: int, kind: str, detail: str, mode: str) -> None:
        self.evidence.append(Evidence(self.module.rel, int(line), kind, detail, mode))

    def device_use(self, node, values, ctx: Context, what: str, query: bool = False) -> None:
        """Evidence for work placed on (or, with `query`, a device object made for) the values' devices."""
        kinds = {knowledge.device_kind(v) for v in values if v is not UNKNOWN}
        if "cuda" in kinds and not ("cpu" in kinds or "auto" in kinds) and not ctx.guarded:
            self.add(node.lineno, "device_query" if query else "cuda", f"unconditional CUDA: {what}", "gpu")
        elif "cuda" in kinds or "auto" in kinds:
            self.add(node.lineno, "device_query" if query else "cuda_portable", f"CUDA with CPU fallback: {what}",
                     "cpu_preferred")

    def bind_arguments(self) -> None:
        """Literal arguments of calls to the handler's own functions and classes become possible values of their
        parameters (`FasterRCNN("COCO-Detection/faster_rcnn_R_50_FPN_3x.yaml")` -> `config_name` in
        `__init__(self, config_name)`), placed on the callee's definition line."""
        module = self.module
        for call, _ in module.calls:
            target = None
            if isinstance(call.func, ast.Name):
                name = call.func.id
                if name in module.class_inits or name in module.functions:
                    target = (module, name)
            if target is None:
                qualified = self.qualname(call.func) or ""
                target = self.project.local_target(qualified) if "." in qualified else None
            if target is None:
                continue
            other, name = target
            if name in other.class_inits:
                line, params = other.class_inits[name]
            elif name in other.functions:
                line, params, _ = other.functions[name]
            else:
                continue
            pairs = list(zip(params, call.args)) + [(k.arg, k.value) for k in call.keywords if k.arg in params]
            for param, arg in pairs:
                for value in self.values(arg):
                    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
                        other.assigns.setdefault(param, []).append(ast.Constant(value, lineno=line, col_offset=0))

    def _framework(self, qualified: str) -> bool:
        """Whether a called name resolves into a DL framework, a GPU library or a library built on one."""
        return self.project.classify_import(qualified)[1] in ("dl", "gpu")

    def _find_idle_models(self) -> None:
        """Models bound to a name nobody runs (`model = AutoModel.from_pretrained(...)` and nothing reads `model`
        but `.to()`/`.eval()`): their loading is no work per request."""
        module = self.module
        if not any(m.functions for m in self.project.modules):
            return  # a script, not a handler: nothing says when its objects would be used
        for key, values in module.assigns.items():
            for value in values:
                chain = []
                node = value
                while isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                        and node.func.attr in _NOT_RUNNING and isinstance(node.func.value, ast.Call):
                    chain.append(node)
                    node = node.func.value
                if not isinstance(node, ast.Call) or not self._framework(self.qualname(node.func) or ""):
                    continue
                method = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
                named = any(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in node.args[:1]) or \
                    any(k.arg in _MODEL_KEYWORDS for k in node.keywords)
                if not (method in ("from_pretrained", "get_pretrained", "load_model", "from_single_file", "load",
                                   "pipeline", "create_model") or method[:1].isupper() and named):
                    continue
                if any(word in method for word in _NOT_MODELS):
                    continue
                if not self.project.uses(key):
                    self._idle.update(id(n) for n in chain + [node])
        for node, _ in module.calls:  # model.to("cuda") on a model nobody runs
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr in _NOT_RUNNING:
                receiver = _dotted(func.value)
                if receiver and receiver in module.assigns and not self.project.uses(receiver) and any(
                        isinstance(v, ast.Call) and id(v) in self._idle for v in module.assigns[receiver]):
                    self._idle.add(id(node))

    def run(self) -> None:
        module = self.module
        self._find_idle_models()
        self._has_model = any(self._framework(self.qualname(ast.Name(id=base.split(".", 1)[0])) or "")
                              and base.rsplit(".", 1)[-1] in ("Module", "Model", "LightningModule", "Sequential")
                              for _, _, bases in module.classes for base in bases)
        self._imports()
        for node, ctx in module.calls:
            before = len(self.evidence)
            self._call(node, ctx)
            if id(node) in self._idle and len(self.evidence) > before:
                self.evidence[before:] = [replace(item, mode="cpu", detail=f"{item.detail} (model loaded but never run: "
                                                  f"not counted)") for item in self.evidence[before:]]
        for node, ctx in module.attributes:
            self._attribute(node, ctx)
        for key, value, line, ctx in module.device_dicts:
            what = f"{{{key!r}: {_snippet(value)}}}"
            if key == "device_map" and isinstance(value, ast.Dict):
                self.device_use(value, [v for item in value.values for v in self.values(item)], ctx, what)
            elif key in ("tree_method", "predictor", "task_type"):
                if any(isinstance(v, str) and "gpu" in v.lower() for v in self.values(value)):
                    self.device_use(value, ["cuda"], ctx, what)
            elif key == "gpu_id":
                self.device_use(value, [v for v in self.values(value) if isinstance(v, int)], ctx, what)
            elif self.frameworks:  # a "device" entry only means placement next to a framework
                self.device_use(value, self.values(value), ctx, what)
        for line, value in module.visible_devices:
            shown = [v for v in self.strings(value) if v.strip() not in ("", "-1")]
            if shown:  # picks a GPU if there is one; "" or "-1" hides them all
                self.add(line, "cuda_portable", f"CUDA_VISIBLE_DEVICES={shown[0]!r}", "cpu_preferred")
        for line in module.cuda_required:
            self.add(line, "cuda", "refuses to run without a GPU (asserts, raises or exits when CUDA is missing)", "gpu")
        self._matrix_work()

    def _imports(self) -> None:
        module = self.module
        sites: dict[tuple, list] = {}  # (line, label) -> sites, so `from torch import Tensor, nn` reads as one
        for qualified, local, line, optional in module.import_sites:
            if self.project.local_target(qualified + ".x") is not None or qualified in self.project.by_name \
                    or self.project.local_module(qualified) is not None and qualified.split(".")[0] in self.project.by_name:
                continue  # one of the handler's own modules
            label, category = self.project.classify_import(qualified)
            if label is None:
                top = qualified.split(".", 1)[0]
                if top and top not in sys.stdlib_module_names and top not in knowledge.PLAIN_LIBRARIES \
                        and top != "__future__" and local in module.loaded:
                    self.add(line, "unknown_library", f"imports {top}, which the classifier does not know", "cpu")
                continue
            if category == "plain":
                continue
            sites.setdefault((line, label, category), []).append((qualified, local, optional))
        idle_funcs = {id(node.func) for node, _ in module.calls if id(node) in self._idle}
        for (line, label, category), names in sites.items():
            self.frameworks.add(label)
            optional = any(o for _, _, o in names)
            if category == "gpu":
                if optional:
                    self.add(line, "gpu_library_optional", f"imports GPU library {label} with a fallback if missing",
                             "gpu_preferred")
                else:
                    self.add(line, "gpu_library", f"imports GPU-only library {label}", "gpu")
                continue
            if category != "dl":
                self.add(line, "library", f"uses {label} (CPU library)", "cpu")
                continue
            use = self._use_of(names, idle_funcs)
            if use == "work":
                self.add(line, "framework", f"uses deep-learning framework {label}", "cpu_preferred")
                family = knowledge.HEAVY_LIBRARIES.get(label)
                if family:
                    self.add(line, "heavy_model", f"{label}: {family}", "gpu_preferred")
            elif use == "query":
                self.add(line, "device_query", f"asks {label} about the device, runs nothing on it", "cpu")
            elif use == "idle":
                self.add(line, "import_unused", f"loads a {label} model but never runs it", "cpu")
            else:
                self.add(line, "import_unused", f"imports {label} but never uses it", "cpu")

    def _use_of(self, names, idle_funcs: set) -> str:
        """How the code uses imported names: "work", "query" (device questions only), "idle" (models loaded and
        never run) or "none"."""
        module = self.module
        locals_ = {local: qualified for qualified, local, _ in names}
        if "*" in locals_:
            return "work"
        found = set()
        for chain, node in module.chains:
            head = chain.split(".", 1)[0]
            if head not in locals_:
                continue
            qualified = self.qualname(node) or chain
            if id(node) in idle_funcs:
                found.add("idle")
            elif qualified.startswith(_DEVICE_QUERIES) or qualified.endswith(("__version__", ".is_available")) \
                    or "Config." in qualified and not qualified.endswith("Config"):
                found.add("query")  # device questions, and configuration files read without a model
            else:
                return "work"
        for name, node in module.bare:
            if name in locals_:
                qualified = locals_[name]
                if id(node) in idle_funcs:
                    found.add("idle")
                elif qualified.startswith(_DEVICE_QUERIES):
                    found.add("query")
                else:
                    return "work"
        if "idle" in found:
            return "idle"
        return "query" if found else "none"

    def _attribute(self, node: ast.Attribute, ctx: Context) -> None:
        qualified = self.qualname(node) or ""
        if node.attr in _HALF_NAMES:
            if qualified.startswith(("torch.", "tensorflow.", "jax.")) and not ctx.guarded:
                self.add(node.lineno, "half_precision", f"half precision {qualified}", "cpu_preferred")
        elif node.attr in _CUDA_TENSOR_TYPES and qualified.startswith("torch.cuda."):
            self.device_use(node, ["cuda"], ctx, qualified)
        elif node.attr.startswith("DNN_") and "CUDA" in node.attr and qualified.startswith("cv2."):
            self.device_use(node, ["cuda"], ctx, qualified)
        elif node.attr == "cuda" and qualified.startswith("cv2.cuda"):
            self.device_use(node, ["cuda"], ctx, qualified)

    def _call(self, node: ast.Call, ctx: Context) -> None:
        func = node.func
        qualified = self.qualname(func) or ""
        method = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        args = node.args
        kwargs = {kw.arg: kw.value for kw in node.keywords if kw.arg}

        # ---- device placement ----
        if method == "cuda" and isinstance(func, ast.Attribute) and not qualified.startswith(("numba", "cv2")):
            self.device_use(node, ["cuda"], ctx, f"{_snippet(node)}")
        elif method == "to" and isinstance(func, ast.Attribute) and (args or "device" in kwargs):
            target = kwargs.get("device", args[0] if args else None)
            self.device_use(node, self.values(target), ctx, _snippet(node))
        elif method == "half" and isinstance(func, ast.Attribute) and not args and not ctx.guarded \
                and not qualified.startswith(_ARRAY_LIBRARIES):
            self.add(node.lineno, "half_precision", f"half precision {_snippet(node)}", "cpu_preferred")
        elif qualified in ("torch.device", "torch.cuda.device") and args:
            self.device_use(node, self.values(args[0]), ctx, _snippet(node), query=True)
        elif qualified in ("tensorflow.device", "torch.set_default_device", "paddle.set_device") and args:
            self.device_use(node, self.values(args[0]), ctx, _snippet(node))
        elif method == "set_default_tensor_type" and args and (
                any("cuda" in v for v in self.strings(args[0])) or "cuda" in (self.qualname(args[0]) or "")):
            self.device_use(node, ["cuda"], ctx, _snippet(node))
        elif qualified == "spacy.load" and args and any("trf" in v for v in self.strings(args[0])):
            self.add(node.lineno, "framework", f"spaCy transformer pipeline {_snippet(args[0])}", "cpu_preferred")
        elif qualified.startswith("torch.cuda.") and method in _CUDA_ONLY_OPS:
            self.device_use(node, ["cuda"], ctx, _snippet(node), query=True)
        elif qualified in ("mxnet.gpu", "mxnet.context.gpu", "spacy.require_gpu", "cupy.cuda.Device"):
            self.device_use(node, ["cuda"], ctx, _snippet(node))
        elif qualified == "jax.devices" and args:
            self.device_use(node, self.values(args[0]), ctx, _snippet(node))
        elif qualified == "spacy.prefer_gpu":
            self.device_use(node, ["cuda", "cpu"], ctx, _snippet(node))
        elif method == "set_global_policy" and args and any("float16" in v for v in self.strings(args[0])):
            self.add(node.lineno, "half_precision", f"mixed precision {_snippet(node)}", "cpu_preferred")
        elif method in ("enable_model_cpu_offload", "enable_sequential_cpu_offload"):
            self.device_use(node, ["cuda"], ctx, f"{_snippet(node)} (offloading needs a CUDA device)")
        elif method == "enable_xformers_memory_efficient_attention":
            self.add(node.lineno, "gpu_library", f"{_snippet(node)} needs xformers on CUDA", "gpu")
        elif method == "BitsAndBytesConfig":
            self.add(node.lineno, "gpu_library", "bitsandbytes quantisation (BitsAndBytesConfig)", "gpu")
        elif method in ("import_module", "__import__") and args:
            for name in self.strings(args[0]):
                label, category = classify_import(name)
                if label:
                    self.frameworks.add(label)
                if category == "gpu":
                    self.add(node.lineno, "gpu_library_optional" if ctx.optional_import else "gpu_library",
                             f"imports GPU library {label} dynamically", "gpu_preferred" if ctx.optional_import else "gpu")
        self._keywords(func, kwargs, qualified, method, ctx)
        self._model_load(node, qualified, method, args, kwargs)
        self._library_call(node, qualified, method, args, kwargs, ctx)
        self._tensor_factory(node, qualified, method, args, kwargs, ctx)
        self._training(node, qualified, method, kwargs)
        self._image_size(node, qualified, method, args, kwargs)
        if qualified in _SUBPROCESS_CALLS and args:
            self._subprocess(node, qualified, args, kwargs, ctx)
        if method in ("function", "cls", "pip_install", "uv_pip_install", "from_registry", "run_commands",
                      "service", "deployment") or kwargs.keys() & _PLATFORM_KEYWORDS or "gpu" in kwargs:
            self._platform_call(node, method, args, kwargs)

    # ---------- what the platform is told, and programs run outside Python ----------
    def _platform_call(self, node, method, args, kwargs) -> None:
        """Modal `@app.function(gpu=...)` / `@app.cls(gpu=...)`, Modal image packages and base images,
        `@bentoml.service(resources={"gpu": 1})`, Ray Serve `ray_actor_options={"num_gpus": 1}`."""
        modal = any(value.split(".", 1)[0] == "modal" for value in self.module.imports.values())
        if modal and method in ("function", "cls") and "gpu" in kwargs:
            gpu = kwargs["gpu"]
            values = self.values(gpu)
            if isinstance(gpu, (ast.Call, ast.Attribute, ast.List, ast.Tuple)) or any(
                    v not in (None, False, "", UNKNOWN) for v in values):
                self.add(gpu.lineno, "platform", f"Modal function declared with gpu={_snippet(gpu, 40)}", "gpu_preferred")
        elif "gpu" in kwargs:  # Beam `@endpoint(gpu="T4")`, Runtime(gpu="A10G"), fal, Cerebrium, ...
            names = [v for v in self.strings(kwargs["gpu"]) if GPU_NAME.match(v)]
            if names:
                self.add(kwargs["gpu"].lineno, "platform", f"declared with gpu={names[0]!r}", "gpu_preferred")
        if modal and method in ("pip_install", "uv_pip_install"):
            for arg in args:
                for value in self.values(arg):
                    for item in value if isinstance(value, tuple) else (value,):
                        if isinstance(item, str):
                            self.packages.append((arg.lineno, item))
        if modal and method == "run_commands":
            for arg in args:
                for command in self.strings(arg):
                    self.packages += [(arg.lineno, package) for package in pip_packages(command)]
        if modal and method == "from_registry" and args:
            for image in self.strings(args[0]):
                if GPU_IMAGE.search(image.lower()):
                    self.add(node.lineno, "platform", f"Modal image from the CUDA image {image}", "gpu_preferred")
        for key in ("instance_type", "accelerator_type", "machine_type", "accelerator", "compute_target"):
            for value in self.strings(kwargs[key]) if key in kwargs else []:
                if knowledge.GPU_INSTANCE.match(value):
                    self.add(kwargs[key].lineno, "platform", f"deploys on GPU instances ({key}={value!r})", "gpu_preferred")
                elif knowledge.CPU_INSTANCE.match(value):
                    self.add(kwargs[key].lineno, "platform", f"deploys on CPU instances ({key}={value!r})", "cpu")
        for key in ("image_uri", "image"):
            for value in self.strings(kwargs[key]) if key in kwargs and method == "deploy" or key in kwargs and \
                    method.endswith("Model") else []:
                if GPU_IMAGE.search(value.lower()):
                    self.add(kwargs[key].lineno, "platform", f"serves from the CUDA image {value}", "gpu_preferred")
        for key in ("resources", "ray_actor_options"):
            table = kwargs.get(key)
            if isinstance(table, ast.Dict):
                for entry, value in zip(table.keys, table.values):
                    if isinstance(entry, ast.Constant) and entry.value in ("gpu", "num_gpus", "nvidia.com/gpu") \
                            and any(isinstance(v, (int, float)) and v > 0 for v in self.values(value)):
                        self.add(value.lineno, "platform", f"{key}={{{entry.value!r}: {_snippet(value)}}}",
                                 "gpu_preferred")

    def _command_words(self, node) -> list[str]:
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "join" \
                and node.args:
            node = node.args[0]
        words: list[str] = []
        for value in self.values(node):
            if isinstance(value, tuple):
                words = [v if isinstance(v, str) else "" for v in value]
                break
            if isinstance(value, str):
                try:
                    words = shlex.split(value)
                except ValueError:
                    words = value.split()
                break
        return words

    def _subprocess(self, node, qualified, args, kwargs, ctx) -> None:
        """Programs run outside Python: GPU serving and training stacks, CUDA binaries, nvidia-smi gates."""
        words = self._command_words(args[0])
        if qualified in ("asyncio.create_subprocess_exec", "os.execvp", "os.execv", "os.spawnvp") and len(args) > 1:
            words = [w for a in args for w in (self.strings(a)[:1] or [""])]
        words = [w for w in words if w is not None]
        if len(words) >= 3 and words[0].rsplit("/", 1)[-1] in ("bash", "sh") and words[1] == "-c":
            try:
                words = shlex.split(words[2])
            except ValueError:
                words = words[2].split()
        if not words or not words[0] and "-m" not in words[:-1]:
            return
        program = words[0].rsplit("/", 1)[-1]
        if (program.startswith("python") or not program) and "-m" in words[:-1]:  # [sys.executable, "-m", ...]
            program = words[words.index("-m") + 1].split(".", 1)[0]
        self.programs.add(program)
        shown = " ".join(w for w in words[:3] if w)
        if program in knowledge.GPU_PROGRAMS:
            self.add(node.lineno, "subprocess", f"runs {knowledge.GPU_PROGRAMS[program]} (`{shown}`)", "gpu")
        elif program == "nvidia-smi":
            checked = qualified in ("subprocess.check_call", "subprocess.check_output") or True in self.values(
                kwargs.get("check"))
            if checked and not ctx.guarded and not ctx.optional_import:
                self.add(node.lineno, "subprocess", "fails without a GPU (`nvidia-smi` must succeed)", "gpu")
            else:
                self.add(node.lineno, "cuda_portable", "probes for a GPU with nvidia-smi", "cpu_preferred")
        elif any(knowledge.GPU_PROGRAM_ARGUMENTS.search(w) for w in words[1:] if w):
            flag = next(w for w in words[1:] if w and knowledge.GPU_PROGRAM_ARGUMENTS.search(w))
            self.add(node.lineno, "subprocess", f"runs {program} on NVIDIA hardware ({flag})", "gpu")
        elif any(word in words[0].lower() for word in ("cuda", "gpu", "nvidia")):
            self.add(node.lineno, "subprocess", f"runs the CUDA program {words[0]}", "gpu")
        elif program in knowledge.HEAVY_PROGRAMS:
            self.add(node.lineno, "subprocess", f"runs {knowledge.HEAVY_PROGRAMS[program]} (`{shown}`)",
                     "gpu_preferred")
        elif program not in knowledge.PLAIN_PROGRAMS and not program.startswith("python") or \
                program.startswith("python") and len(words) > 1 and words[1].endswith(".py"):
            self.add(node.lineno, "unknown_program", f"runs `{shown}`, which the classifier cannot see into", "cpu")

    def _library_call(self, node, qualified, method, args, kwargs, ctx) -> None:
        """Calls into libraries built on a framework (whisperx, realesrgan, doctr, ...): a device string passed
        positionally (`load_model("large-v3", "cuda")`) and the model a loader names."""
        if not qualified or qualified.startswith(_DEVICE_QUERIES) or method in ("to", "device", "cuda"):
            return
        label, category = self.project.classify_import(qualified)
        top = qualified.split(".", 1)[0]
        head = (_dotted(node.func) or "").split(".", 1)[0]
        third_party = category is None and head in self.module.imports and top not in sys.stdlib_module_names \
            and top not in knowledge.PLAIN_LIBRARIES and self.project.local_module(self.module.imports[head]) is None
        if category not in ("dl", "gpu") and not third_party:
            return
        for arg in args[:4]:
            values = self.strings(arg)
            kinds = {knowledge.device_kind(v) for v in values}
            if "cuda" in kinds and kinds <= {"cuda", "cpu", "auto"}:
                self.device_use(arg, values, ctx, f"{_snippet(node, 60)} (device argument)")
        if category not in ("dl", "gpu"):
            return  # a library nobody knows: only a device it is handed says where its work runs
        if label in knowledge.DL_FRAMEWORKS.values() and label not in knowledge.WHISPER_LIKE \
                and label not in knowledge.LIBRARY_DOMAINS:
            return  # the frameworks' own loaders are read by _model_load
        loader = method in ("load_model", "from_pretrained", "get_pretrained", "load", "create_model", "Model") \
            or method[:1].isupper()
        if not loader:
            return
        source = next((kwargs[k] for k in _MODEL_KEYWORDS + ("model_type", "name", "model_size")
                       if k in kwargs and k != "model_type"), args[0] if args else None)
        for name in self.strings(source)[:2]:
            if label in knowledge.WHISPER_LIKE:
                self._verdict(node, knowledge.whisper_size(name), f"{label}.{method}")
            else:
                self._verdict(node, knowledge.estimate_model(name, knowledge.LIBRARY_DOMAINS.get(label)),
                              f"{label}.{method}")

    def _image_size(self, node, qualified, method, args, kwargs) -> None:
        """Input images of a megapixel and more per call (`Resize((1080, 1920))`, `target_size=(1024, 1024)`)."""
        candidates = []
        if method in ("resize", "Resize") and args:
            candidates.append(args[1] if qualified.startswith("cv2") and len(args) > 1 else args[0])
        elif method == "new" and qualified.startswith("PIL") and len(args) > 1:
            candidates.append(args[1])
        candidates += [kwargs[k] for k in _IMAGE_SIZE_KEYWORDS if k in kwargs and (k != "size" or method == "Resize")]
        best = 0
        for candidate in candidates:
            for value in self.values(candidate):
                if isinstance(value, tuple) and len(value) in (2, 3) and all(
                        isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value):
                    dims = [v for v in value if v > 4] if len(value) == 3 else list(value)
                    if len(dims) == 2:
                        best = max(best, dims[0] * dims[1])
                elif isinstance(value, int) and not isinstance(value, bool) and value > 0 and method != "Resize":
                    best = max(best, value * value)
        if best >= knowledge.LARGE_IMAGE_PIXELS:
            self.add(node.lineno, "image_size", f"images of {best / 1e6:.1f} megapixels per call ({_snippet(node, 50)})",
                     "gpu_preferred")

    def _keywords(self, func, kwargs, qualified, method, ctx) -> None:
        model_call = bool(kwargs.keys() & _LIMIT_KEYWORDS) and self._is_model_call(func, qualified, method)
        for key, value in kwargs.items():
            if qualified.startswith(_ARRAY_LIBRARIES) and key == "device":
                continue  # numpy's array-API device= only ever means the CPU
            if key == "device" or key == "map_location" or (key == "device_type" and "autocast" not in method):
                values = self.values(value)
                if not self._framework(qualified):
                    # device=0 is a GPU ordinal for transformers/torch, but an audio or camera index elsewhere
                    values = [v for v in values if not isinstance(v, int)]
                self.device_use(value, values, ctx, f"{key}={_snippet(value)}")
            elif key == "device_map":
                if isinstance(value, ast.Dict):
                    self.device_use(value, [v for item in value.values for v in self.values(item)], ctx, f"device_map={_snippet(value)}")
                else:
                    self.device_use(value, self.values(value), ctx, f"device_map={_snippet(value)}")
            elif key in ("tree_method", "predictor", "task_type") and \
                    any(isinstance(v, str) and "gpu" in v.lower() for v in self.values(value)):
                self.device_use(value, ["cuda"], ctx, f"{key}={_snippet(value)}")
            elif key == "gpu_id":
                self.device_use(value, [v for v in self.values(value) if isinstance(v, int)], ctx, f"gpu_id={_snippet(value)}")
            elif key in ("target", "target_backend") and qualified.startswith("numba") and \
                    "cuda" in self.values(value):
                self.device_use(value, ["cuda"], ctx, f"numba {key}={_snippet(value)}")
            elif key in ("gpu", "use_gpu", "use_cuda", "cuda") and True in self.values(value):
                # easyocr.Reader(gpu=True), PaddleOCR(use_gpu=True): use the GPU when present, else warn and go on
                self.device_use(value, ["cuda", "cpu"], ctx, f"{key}=True")
            elif key == "accelerator" and self._framework(qualified):  # Lightning Trainer(accelerator="gpu")
                self.device_use(value, self.values(value), ctx, f"accelerator={_snippet(value)}")
            elif key == "n_gpu_layers" and any(v != 0 for v in self.numbers(value)):
                self.device_use(value, ["cuda", "cpu"], ctx, f"n_gpu_layers={_snippet(value)} (llama.cpp offload)")
            elif key == "providers":
                self._providers(value, ctx)
            elif key in ("load_in_8bit", "load_in_4bit") and True in self.values(value):
                self.add(value.lineno, "gpu_library", f"bitsandbytes quantisation ({key}=True)", "gpu")
            elif key == "attn_implementation" and "flash_attention_2" in self.values(value) \
                    or key == "use_flash_attention_2" and True in self.values(value):
                self.add(value.lineno, "gpu_library", f"flash attention ({key}={_snippet(value)})", "gpu")
            elif key in ("torch_dtype", "dtype", "compute_type") and not (
                    isinstance(value, ast.IfExp) and _mentions_device(value.test)):
                texts = {str(v).lower() for v in self.values(value) if isinstance(v, str)}
                value_name = self.qualname(value) or ""
                deep_learning = key == "torch_dtype" or self._framework(qualified) or self._framework(value_name)
                if deep_learning and (texts & {"float16", "fp16", "bfloat16", "int8_float16"}
                                      or value_name.rsplit(".", 1)[-1] in _HALF_NAMES):
                    self.add(value.lineno, "half_precision", f"half precision {key}={_snippet(value)}", "cpu_preferred")
            elif key in _TOKEN_KEYWORDS and model_call and (
                    key != "max_length" or method in ("generate", "GenerationConfig") or _SAMPLING_KEYWORDS & kwargs.keys()) \
                    and not (key == "max_length" and kwargs.keys() & {"truncation", "padding", "return_tensors"}):
                # a tokenizer's max_length truncates its input; it says nothing about generation
                # max_length alone is as often a tokenizer's truncation length as a generation limit
                numbers = self.numbers(value)
                if numbers and max(numbers) >= _TOKEN_KEYWORDS[key]:
                    self.add(value.lineno, "generation_length", f"long generation {key}={max(numbers):g}", "gpu_preferred")
                elif numbers:
                    self.add(value.lineno, "generation_length", f"short generation {key}={max(numbers):g}", "cpu_preferred")
            elif key == "batch_size" and model_call:
                numbers = self.numbers(value)
                if numbers and max(numbers) >= knowledge.LARGE_BATCH:
                    self.add(value.lineno, "batch", f"large batch batch_size={max(numbers):g}", "gpu_preferred")

    def _is_model_call(self, func, qualified: str, method: str) -> bool:
        """Whether a call runs a model: a framework function, a model method, or an object built by a framework
        (`pipe = pipeline(...)`, `self.llm = Llama(...)`). Generation and batch limits count only there; an
        HTTP client's `max_tokens=` or a file system's `batch_size=` do not."""
        if self._framework(qualified) or method in _MODEL_METHODS:
            return True
        key = _dotted(func)
        for value in self.module.assigns.get(key, []) if key else []:
            if isinstance(value, ast.Call) and self._framework(self.qualname(value.func) or ""):
                return True
        return False

    def _providers(self, value, ctx) -> None:
        if isinstance(value, ast.Call) and (self.qualname(value.func) or "").endswith("get_available_providers"):
            self.device_use(value, ["cuda", "cpu"], ctx, "onnxruntime providers: whatever the node offers")
            return
        names = []
        for v in self.values(value):
            items = v if isinstance(v, tuple) else (v,)
            for item in items:
                names.append(item[0] if isinstance(item, tuple) and item else item)
        names = [n for n in names if isinstance(n, str)]
        if not names:
            return
        gpu = [n for n in names if n in _GPU_PROVIDERS]
        if gpu and len(gpu) == len(names):
            self.device_use(value, ["cuda"], ctx, f"onnxruntime providers {names}")
        elif gpu:
            self.device_use(value, ["cuda", "cpu"], ctx, f"onnxruntime providers {names}")

    def _weight_format(self, node, model_id: str) -> None:
        if knowledge.GPU_WEIGHT_FORMAT.search(model_id):
            self.add(node.lineno, "gpu_library", f"GPU-only quantised weights {model_id!r} (GPTQ/AWQ/EXL2 kernels)", "gpu")

    def _verdict(self, node, verdict, how: str) -> None:
        if verdict is None:
            return
        if verdict.heavy:
            self.add(node.lineno, "heavy_model", f"{how}: {verdict.detail}", "gpu_preferred")
        else:
            self.add(node.lineno, "light_model", f"{how}: {verdict.detail}", "cpu_preferred")

    def _model_load(self, node, qualified, method, args, kwargs) -> None:
        first = args[0] if args else None
        if method in ("from_pretrained", "from_single_file", "from_quantized"):
            owner = qualified.rsplit(".", 2)[-2] if qualified.count(".") >= 1 else ""
            if any(word in owner for word in _NOT_MODELS):
                return
            source = first if first is not None else next((kwargs[k] for k in _MODEL_KEYWORDS if k in kwargs), None)
            domain = knowledge.domain_of_loader(owner) if owner else None
            if qualified.startswith("diffusers.") or "Diffusion" in owner:
                domain = "diffusion"
            if domain == "diffusion":
                ids = self.strings(source)
                self.add(node.lineno, "heavy_model", f"{owner}.from_pretrained: diffusion pipeline"
                         + (f" {ids[0]!r}" if ids else ""), "gpu_preferred")
                return
            anchor = source if source is not None else node
            verdicts = [knowledge.estimate_model(model_id, domain) for model_id in self.strings(source)[:4]]
            for model_id, verdict in zip(self.strings(source)[:4], verdicts):
                self._verdict(anchor, verdict, f"{owner}.{method}")
                self._weight_format(anchor, model_id)
            if "CausalLM" in owner and not any(verdicts):
                self.add(anchor.lineno, "heavy_model", f"{owner}.{method}: causal LM of unstated size (a local path "
                         f"or an unknown family; generative LLMs served this way are 1B and up)", "gpu_preferred")
            return
        if qualified == "transformers.pipeline" or (method == "pipeline" and qualified.startswith("transformers")):
            tasks = self.strings(kwargs.get("task", first))
            task = tasks[0] if tasks else ""
            domain = knowledge.pipeline_domain(task) if task else None
            model = kwargs.get("model", args[1] if len(args) > 1 else None)
            ids = self.strings(model) if model is not None else []
            for model_id in ids[:4]:
                self._weight_format(model, model_id)
                verdict = knowledge.estimate_model(model_id, domain)
                if verdict is None and domain is not None:
                    verdict = knowledge.ModelVerdict(domain == "diffusion", domain, None, f"{domain} model {model_id!r}")
                self._verdict(model, verdict, f"pipeline({task!r})")
            if model is not None and not ids and task == "text-generation" and isinstance(model, (ast.Name, ast.Attribute)) \
                    and not any(isinstance(v, ast.Call) for v in self.module.assigns.get(_dotted(model) or "", [])):
                self.add(model.lineno, "heavy_model", "pipeline('text-generation') on a model of unstated size "
                         "(generative LLMs served this way are 1B and up)", "gpu_preferred")
            if not ids and model is None and task:
                heavy = domain == "diffusion"
                self.add(node.lineno, "heavy_model" if heavy else "light_model",
                         f"pipeline({task!r}) with the task's default model", "gpu_preferred" if heavy else "cpu_preferred")
            return
        if qualified.startswith("diffusers.") and method.endswith("Pipeline"):
            self.add(node.lineno, "heavy_model", f"diffusion pipeline {method}", "gpu_preferred")
            return
        if qualified in ("whisper.load_model", "faster_whisper.WhisperModel") or method == "WhisperModel":
            for name in self.strings(kwargs.get("name", kwargs.get("model_size_or_path", first)))[:4]:
                self._verdict(node, knowledge.whisper_size(name), qualified or method)
            return
        if qualified.startswith("sentence_transformers.") and method in ("SentenceTransformer", "CrossEncoder"):
            for name in self.strings(kwargs.get("model_name_or_path", first))[:4]:
                self._verdict(node, knowledge.estimate_model(name, "text"), method)
            return
        if qualified in ("timm.create_model", "open_clip.create_model_and_transforms", "open_clip.create_model",
                         "clip.load", "ultralytics.YOLO", "ultralytics.RTDETR", "ultralytics.SAM"):
            for name in self.strings(kwargs.get("model_name", first))[:4]:
                self._verdict(node, knowledge.estimate_model(name, "vision"), qualified)
            return
        if qualified == "torch.hub.load" and len(args) >= 2:
            repos = self.strings(args[0])
            for name in self.strings(args[1])[:4]:
                verdict = (knowledge.torchvision_verdict(name) if any("vision" in r for r in repos)
                           else knowledge.estimate_model(name, "vision"))
                self._verdict(node, verdict, "torch.hub.load")
            return
        if qualified.startswith("torchvision.models."):
            names = self.strings(first) if method == "get_model" else [method]
            for name in names[:4]:
                self._verdict(node, knowledge.torchvision_verdict(name), "torchvision")
            return
        if ".applications." in qualified or qualified.startswith("keras.applications"):
            self._verdict(node, knowledge.keras_application_verdict(method), "keras.applications")
            return
        if qualified.startswith(("llama_cpp.", "gpt4all.", "ctransformers.")) and method in ("Llama", "GPT4All", "from_pretrained"):
            names = self.strings(kwargs.get("model_path", kwargs.get("filename", kwargs.get("repo_id", first))))
            verdicts = [knowledge.estimate_model(n, "llm") for n in names[:4]]
            verdicts = [v for v in verdicts if v is not None] or [
                knowledge.ModelVerdict(True, "llm", None, "local LLM of unstated size (LLMs served this way are >=1B)")]
            for verdict in verdicts:
                self._verdict(node, verdict, method)
            return
        if method in ("merge_from_file", "get_config_file", "get_config", "init_detector", "init_segmentor") \
                and (first is not None or "config" in kwargs):
            for name in self.strings(kwargs.get("config", first))[:4]:
                if knowledge.HEAVY_DETECTOR_CONFIG.search(name):
                    self.add(node.lineno, "heavy_model", f"detector config {name!r} (two-stage/dense detector)",
                             "gpu_preferred")
            return
        if isinstance(node.func, ast.Subscript):  # sam_model_registry["vit_h"](checkpoint=...)
            for name in self.strings(node.func.slice)[:4]:
                self._verdict(node, knowledge.estimate_model(name, None), f"{_snippet(node.func, 40)}")
        for key in _MODEL_KEYWORDS:
            if key in kwargs:
                for name in self.strings(kwargs[key])[:4]:
                    verdict = knowledge.estimate_model(name, None)
                    if verdict is not None:
                        self._verdict(node, verdict, f"{method}({key}=...)")
        if args and (method[:1].isupper() or method in ("load", "load_model", "from_file")) \
                and not any(word in method for word in _NOT_MODELS) and self._framework(qualified):
            # a framework's own constructor or loader given a model path (ctranslate2.Translator("nllb-3.3B-ct2"))
            for name in self.strings(args[0])[:2]:
                verdict = knowledge.estimate_model(name, None)
                if verdict is not None:
                    self._verdict(args[0], verdict, f"{method}(...)")

    def _tensor_factory(self, node, qualified, method, args, kwargs, ctx) -> None:
        if method in knowledge.MATMUL_FUNCTIONS and (qualified.startswith(knowledge.TENSOR_MODULES) or isinstance(node.func, ast.Attribute)):
            self.module.matmuls.append((node.lineno, ctx))
            return
        if method not in knowledge.TENSOR_FACTORIES:
            return
        library = qualified.split(".", 1)[0]
        if library not in knowledge.TENSOR_MODULES and library != "numpy":
            return
        shape_nodes = [kwargs[k] for k in ("size", "shape") if k in kwargs]
        if not shape_nodes and method not in ("randint", "normal", "uniform", "arange"):
            shape_nodes = args[:1] if len(args) == 1 and isinstance(args[0], (ast.Tuple, ast.List)) else []
            if not shape_nodes and args:
                shape_nodes = [ast.Tuple(elts=list(args), ctx=ast.Load())]
        elements = None
        for shape in shape_nodes:
            for value in self.values(shape):
                dims = value if isinstance(value, tuple) else (value,)
                if dims and all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in dims):
                    product = 1
                    for d in dims:
                        product *= d
                    elements = max(elements or 0, product)
        if elements is None:
            return
        repeats = self._iterations(ctx.loops)
        self.shapes.append((node.lineno, library, elements, repeats))

    def _iterations(self, loops) -> int | None:
        """Product of the literal iteration counts of the enclosing loops (None: no loop; 0: unknown count)."""
        if not loops:
            return None
        total = 1
        for loop in loops:
            count = 0
            if isinstance(loop, ast.Call) and _dotted(loop.func) == "range" and loop.args:
                bounds = [self.numbers(a) for a in loop.args[:2]]
                if all(bounds):
                    count = int(max(bounds[0])) if len(bounds) == 1 else int(max(bounds[1]) - min(bounds[0]))
            elif isinstance(loop, (ast.List, ast.Tuple)):
                count = len(loop.elts)
            if count <= 0:
                return 0
            total *= count
        return total

    def _matrix_work(self) -> None:
        shapes = self.shapes
        if not shapes:
            return
        loop_counts = [self._iterations(ctx.loops) for _, ctx in self.module.matmuls]
        repeated = max((c for c in loop_counts if c), default=0)
        for line, library, elements, repeats in shapes:
            side = f"{elements:,} elements"
            if library == "numpy":
                if elements >= knowledge.BIG_MATRIX_ELEMENTS:
                    self.add(line, "tensor_shape", f"large numpy array ({side}); numpy has no GPU path", "cpu_preferred")
                continue
            if elements >= knowledge.BIG_MATRIX_ELEMENTS:
                self.add(line, "tensor_shape", f"large {library} tensor ({side})", "gpu_preferred")
            elif elements >= knowledge.REPEATED_MATRIX_ELEMENTS and max(repeated, repeats or 0) >= knowledge.REPEATED_ITERATIONS:
                self.add(line, "tensor_shape", f"{library} tensor of {side} in work repeated "
                         f"{max(repeated, repeats or 0)} times", "gpu_preferred")
            else:
                self.add(line, "tensor_shape", f"small {library} tensor ({side})", "cpu_preferred")

    def _trains_a_model(self) -> bool:
        """Whether backward() has a model behind it: parameters handed to an optimizer, an nn.Module or Keras
        model defined, or weights loaded. Autograd on a few literal tensors is a demonstration, not training."""
        return self._has_model or any(
            isinstance(call.func, ast.Attribute) and call.func.attr in ("parameters", "from_pretrained", "load_state_dict",
                                                                        "trainable_variables", "named_parameters")
            for call, _ in self.module.calls)

    def _training(self, node, qualified, method, kwargs) -> None:
        if method == "backward" and isinstance(node.func, ast.Attribute) and not node.args:
            if self._trains_a_model():
                self.add(node.lineno, "training", f"training step {_snippet(node)}", "gpu_preferred")
            else:
                self.add(node.lineno, "training", f"autograd on tensors, no model trained ({_snippet(node)})",
                         "cpu_preferred")
        elif method in ("fit", "train", "fit_generator", "fit_one_cycle", "fine_tune", "train_model") and (
                kwargs.keys() & _TRAINING_EPOCHS or method in ("fit_generator", "fit_one_cycle", "fine_tune")) \
                and not qualified.startswith(("sklearn", "xgboost", "lightgbm", "catboost")):
            self.add(node.lineno, "training", f"training run {_snippet(node, 60)}", "gpu_preferred")
        elif qualified in ("transformers.Trainer", "transformers.Seq2SeqTrainer", "pytorch_lightning.Trainer",
                           "lightning.Trainer", "lightning.pytorch.Trainer") or qualified.startswith("trl.") \
                and method.endswith("Trainer"):
            self.add(node.lineno, "training", f"{method} training loop", "gpu_preferred")


_ENTRY_FUNCTIONS = {"lambda_handler": "AWS Lambda handler", "handler": "handler function", "handle": "handler function",
                    "init_context": "Nuclio handler", "model_fn": "SageMaker inference handler",
                    "predict_fn": "SageMaker inference handler", "transform_fn": "SageMaker inference handler"}
_ENTRY_CALLS = {"runpod.serverless.start": "RunPod worker", "kserve.ModelServer": "KServe model server",
                "bentoml.service": "BentoML service", "bentoml.Service": "BentoML service",
                "potassium.Potassium": "Banana Potassium app", "azure.functions.FunctionApp": "Azure Functions app",
                "functions_framework.http": "Cloud Functions handler"}
_ENTRY_BASES = {"cog.BasePredictor": "Cog predictor", "kserve.Model": "KServe model",
                "ts.torch_handler.base_handler.BaseHandler": "TorchServe handler"}
_MODAL_DECORATORS = {"function", "cls", "web_endpoint", "fastapi_endpoint", "asgi_app", "wsgi_app", "web_server"}


def entry_reason(module: Module) -> str | None:
    """Why the platform would call this module directly (RunPod start, a Modal function, a Cog predictor, a
    Lambda/Nuclio/SageMaker/Azure handler signature), or None for a helper."""
    imports = module.imports

    def qualified(node) -> str:
        dotted = _dotted(node) or ""
        head, _, rest = dotted.partition(".")
        return f"{imports[head]}.{rest}".rstrip(".") if head in imports else dotted

    modal = any(value.split(".", 1)[0] == "modal" for value in imports.values())
    for call, _ in module.calls:
        name = qualified(call.func)
        if name in _ENTRY_CALLS:
            return _ENTRY_CALLS[name]
        if modal and isinstance(call.func, ast.Attribute) and call.func.attr in _MODAL_DECORATORS:
            return "Modal function"
    for _, _, bases in module.classes:
        for base in bases:
            head, _, rest = base.partition(".")
            name = f"{imports[head]}.{rest}".rstrip(".") if head in imports else base
            if name in _ENTRY_BASES:
                return _ENTRY_BASES[name]
    for name, (_, arguments, annotations) in module.functions.items():
        if name in _ENTRY_FUNCTIONS and (name not in ("handler", "handle") or len(arguments) <= 2):
            return _ENTRY_FUNCTIONS[name]
        if name == "main" and any(a.endswith("HttpRequest") for a in annotations):
            return "Azure Functions handler"
    if "init" in module.functions and "inference" in module.functions:
        return "Banana handler"
    return None


def classify_import(qualified: str) -> tuple[str | None, str | None]:
    """(framework label, 'gpu' | 'dl' | 'cpu') for an imported dotted name, or (None, None)."""
    parts = qualified.split(".")
    for length in (2, 1):
        prefix = ".".join(parts[:length])
        if prefix in knowledge.GPU_ONLY_LIBRARIES:
            return knowledge.GPU_ONLY_LIBRARIES[prefix], "gpu"
    top = parts[0]
    if top in knowledge.DL_FRAMEWORKS:
        return knowledge.DL_FRAMEWORKS[top], "dl"
    if top in knowledge.CPU_LIBRARIES:
        return knowledge.CPU_LIBRARIES[top], "cpu"
    return None, None


def _sort_key(value):
    """Order possible values so that the largest number wins (for a tuple element with several values)."""
    return (isinstance(value, (int, float)), value if isinstance(value, (int, float)) and not isinstance(value, bool) else 0)


def _convert(name: str, value):
    try:
        if value is UNKNOWN:
            return UNKNOWN
        return {"int": int, "float": float, "str": str}[name](value)
    except (TypeError, ValueError, OverflowError):
        return UNKNOWN


def _apply(op, left, right):
    if isinstance(op, ast.Add) and isinstance(left, str) and right is UNKNOWN:
        return left  # "cuda:" + str(rank): the known prefix still names the device
    if left is UNKNOWN or right is UNKNOWN:
        return UNKNOWN
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (left, right))
    try:
        if isinstance(op, ast.Add) and (numeric or (isinstance(left, str) and isinstance(right, str))):
            return left + right
        if not numeric:
            return UNKNOWN
        if isinstance(op, ast.Mult):
            return left * right
        if isinstance(op, ast.Sub):
            return left - right
        if isinstance(op, ast.FloorDiv):
            return left // right
        if isinstance(op, ast.Div):
            return left / right
        if isinstance(op, ast.Pow) and abs(right) <= 64 and abs(left) <= 1 << 20:
            return left ** right
        if isinstance(op, ast.LShift) and 0 <= right <= 64:
            return left << right
    except (ZeroDivisionError, OverflowError, TypeError):
        return UNKNOWN
    return UNKNOWN
