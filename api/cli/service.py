"""Service commands of ``carbontwin``:

- ``serve``: the HTTP service (uvicorn, 127.0.0.1:8000 by default)
- ``verify FILE|ORDER``: was a signed footprint, PACT document or label (JSON, HTML, PDF),
  or a footprint in the store, altered?
- ``plugins list``: every plugin of every ``carbontwin.*`` entry-point group
- ``label ORDER|FILE``: print an order's carbon label (PDF, SVG or HTML)
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

__all__ = ["register"]

DbOpt = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="Store URL (default: CARBONTWIN_DATABASE_URL, else sqlite:///carbontwin.db)",
    ),
]
TenantOpt = Annotated[
    str,
    typer.Option(
        "--tenant",
        envvar="CARBONTWIN_TENANT",
        help="Tenant whose data (default: default, the tenant of a single-plant setup)",
    ),
]
KeyOpt = Annotated[
    Path | None,
    typer.Option("--key-path", help="Ed25519 signing key file (created on first use)"),
]


RuleOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--rule",
        help="Allocation rule of every issue, NAME=VALUE, repeatable: e.g. "
        "--rule idle=processing_time_only --rule utility_key=processing_hours "
        "(names and values: carbontwin.twin.attribution.Rules; carbontwin plugins list "
        "allocation lists the rule objects)",
    ),
]


def parse_rules(values: list[str] | None) -> dict[str, str]:
    """``["idle=processing_time_only", ...]`` -> ``{"idle": "processing_time_only"}``, checked."""
    from carbontwin.api.issuing import rules_from

    out: dict[str, str] = {}
    for v in values or ():
        name, sep, value = v.partition("=")
        if not sep or not name.strip():
            msg = f"--rule {v!r}: write NAME=VALUE, e.g. idle=processing_time_only"
            raise typer.BadParameter(msg)
        out[name.strip()] = value.strip()
    rules_from(out)  # unknown names and bad values are an error here, not later
    return out


def _settings(database_url: str | None, key_path: Path | None, **kw: Any) -> Any:
    from carbontwin.api.settings import Settings

    over: dict[str, Any] = dict(kw)
    if database_url:
        over["database_url"] = database_url
    if key_path:
        over["key_path"] = key_path
    return Settings.from_env(**over)


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (or ``localhost``)."""
    import ipaddress

    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def write_secret_file(path: Path, secret: Any) -> Path:
    """Write a generated secret to ``path``, readable by this user only (0600)."""
    import os

    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(secret.get_secret_value() + "\n")
    os.chmod(path, 0o600)
    return path


def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    database_url: DbOpt = None,
    key_path: KeyOpt = None,
    ssl_certfile: Annotated[
        Path | None,
        typer.Option(
            "--ssl-certfile", help="TLS certificate chain (PEM); serve HTTPS", dir_okay=False
        ),
    ] = None,
    ssl_keyfile: Annotated[
        Path | None,
        typer.Option(
            "--ssl-keyfile", help="TLS private key (PEM) of --ssl-certfile", dir_okay=False
        ),
    ] = None,
    insecure_http: Annotated[
        bool,
        typer.Option(
            "--insecure-http",
            help="Development mode: accept the PACT API and token route over plain HTTP "
            "from loopback peers (127.0.0.1, ::1) only",
        ),
    ] = False,
    rule: RuleOpt = None,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            min=1,
            max=64,
            help="Worker processes (uvicorn). Each has its own caches of rendered footprints, "
            "labels and factory versions; all share the signing key file and the client and "
            "token secrets (generated once here when not set)",
        ),
    ] = 1,
) -> None:
    """Run the carbontwin HTTP service with uvicorn (HTTPS with --ssl-certfile/--ssl-keyfile).

    X-Forwarded-Proto and X-Forwarded-For are believed only from the proxies in
    CARBONTWIN_TRUSTED_PROXIES (a JSON list of addresses or CIDR networks).

    With --workers N, N processes accept on one port. Rendered PACT documents and
    labels are cached per process (CARBONTWIN_RESPONSE_CACHE_MB each); the signing
    key is created here before they start, and a secret that is not configured is
    generated once here and handed to every worker, so a token from one worker is
    valid at all of them and every footprint is signed with one key.
    """
    import uvicorn

    from carbontwin.api.app import create_app

    if (ssl_certfile is None) != (ssl_keyfile is None):
        msg = "give both --ssl-certfile and --ssl-keyfile, or neither"
        raise typer.BadParameter(msg)
    for option, path in (("--ssl-certfile", ssl_certfile), ("--ssl-keyfile", ssl_keyfile)):
        if path is not None and not path.is_file():
            msg = f"{option} {path}: no such file"
            raise typer.BadParameter(msg)
    over: dict[str, Any] = {"require_https": False} if insecure_http else {}
    if rule:
        over["rules"] = parse_rules(rule)
    settings = _settings(database_url, key_path, **over)
    err = Console(stderr=True)
    import os

    missing = [
        name
        for name in ("CARBONTWIN_CLIENT_SECRET", "CARBONTWIN_TOKEN_SECRET")
        if not os.environ.get(name)
    ]
    if missing and not is_loopback(host):
        err.print(
            f"error: serving on {host} needs configured secrets: set {' and '.join(missing)} "
            "(a generated secret would be lost on restart and differ between replicas)",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(2)
    if "CARBONTWIN_CLIENT_SECRET" in missing:
        # a secret is never printed or logged: it goes to a file only this user can read
        secret_file = write_secret_file(
            settings.key_path.with_name("client-secret.txt"), settings.client_secret
        )
        err.print(
            f"client id [bold]{settings.client_id}[/]; a client secret was generated for this "
            f"run into {secret_file} (mode 0600); set CARBONTWIN_CLIENT_SECRET to choose one",
            highlight=False,
            soft_wrap=True,
        )
    scheme = "https" if ssl_certfile else "http"
    err.print(
        f"serving on {scheme}://{host}:{port}  (OpenAPI: /docs, public key: "
        "/.well-known/carbontwin-signing-key)",
        highlight=False,
        soft_wrap=True,
    )
    common: dict[str, Any] = {
        "host": host,
        "port": port,
        "proxy_headers": False,  # the app believes forwarded headers of trusted proxies only
        "ssl_certfile": str(ssl_certfile) if ssl_certfile else None,
        "ssl_keyfile": str(ssl_keyfile) if ssl_keyfile else None,
        "log_level": "info",
    }
    if workers == 1:
        uvicorn.run(create_app(settings), **common)
        return
    share_with_workers(settings)
    err.print(f"{workers} worker processes", highlight=False)
    uvicorn.run("carbontwin.api.app:create_app", factory=True, workers=workers, **common)


def share_with_workers(settings: Any) -> None:
    """Put ``settings`` where worker processes read theirs (``CARBONTWIN_*`` variables of
    this process, which the workers inherit) and create the signing key now, so every
    worker signs with one key and accepts the tokens of the others."""
    import os

    from carbontwin.plugins.signing import load_or_create_key

    load_or_create_key(settings.key_path)  # before the workers start: one key, no race
    from pydantic import SecretStr

    def plain(value: Any) -> Any:  # secrets as themselves: the workers need them
        if isinstance(value, SecretStr):
            return value.get_secret_value()
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [plain(v) for v in value]
        return value

    for name, value in plain(settings.model_dump()).items():
        if value is None:
            continue
        text = str(value) if isinstance(value, str | Path) else json.dumps(value, default=str)
        os.environ[f"CARBONTWIN_{name.upper()}"] = text


def _signed_from_file(path: Path) -> Any:
    """The signed document in ``path``: JSON, or the label document of a label HTML page."""
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() in (".html", ".htm"):
        m = re.search(r'<pre id="label-data">(.*?)</pre>', text, re.S)
        if m is None:
            msg = f"{path}: no label data in this HTML page"
            raise typer.BadParameter(msg)
        return json.loads(html.unescape(m.group(1)))
    try:
        return json.loads(text)
    except ValueError:
        return text  # verify_document says what is wrong with it


def _public_key(
    out: Console, key: Path | None, key_url: str | None, key_path: Path | None, stored: str | None
) -> Any:
    """The public key to check against: --key, --key-url, --key-path (or the settings'
    key file), else the key stored beside the footprint (``stored``)."""
    from carbontwin.plugins.signing import load_or_create_key, load_public_key

    if key is not None:
        return load_public_key(key.read_bytes())
    if key_url is not None:
        import httpx

        r = httpx.get(key_url, timeout=10.0)
        r.raise_for_status()
        body = r.json() if "json" in r.headers.get("content-type", "") else r.text
        return load_public_key(body["public_key_pem"] if isinstance(body, dict) else body)
    settings = _settings(None, key_path)
    if Path(settings.key_path).exists():
        return load_or_create_key(settings.key_path)
    if stored is not None:
        out.print("checking against the public key stored with the footprint", highlight=False)
        return load_public_key(stored)
    out.print(
        f"[red]no key: give --key, --key-url or --key-path ({settings.key_path} does not exist)[/]"
    )
    raise typer.Exit(2)


def verify(
    target: Annotated[
        str,
        typer.Argument(
            help="Signed JSON (footprint, PACT document, label data), a label HTML page or "
            "PDF; or an order id / footprint id in the store (--database-url)",
        ),
    ],
    key: Annotated[Path | None, typer.Option(help="Public key PEM file")] = None,
    key_url: Annotated[
        str | None,
        typer.Option(help="URL of a service's signing key (…/.well-known/carbontwin-signing-key)"),
    ] = None,
    key_path: KeyOpt = None,
    database_url: DbOpt = None,
    tenant: TenantOpt = "default",
) -> None:
    """Check the Ed25519 signature of a file, or of a footprint in the store; exit 1 when
    it was altered or cannot be verified.

    A stored footprint is checked as issued: its signature made at issuance, its
    columns against its payload and its document against the issuance log. OK: the
    signature is valid; ALTERED: the content no longer matches its signature (or a
    stored row its payload); NOT VERIFIED: there is nothing to check it against (not a
    signed document, signed with another key, a malformed signature).
    """
    from carbontwin.plugins.signing import verify_document

    out = Console()
    path = Path(target)
    problems: tuple[str, ...] = ()
    if path.is_file():
        pub = _public_key(out, key, key_url, key_path, None)
        if path.suffix.lower() == ".pdf":
            from carbontwin.plugins.label import verify_pdf

            result = verify_pdf(path.read_bytes(), pub)
        else:
            doc = _signed_from_file(path)
            if isinstance(doc, dict) and "footprint" in doc:
                from carbontwin.plugins.label import verify_label

                result = verify_label(doc, pub)
            else:
                result = verify_document(doc, pub)
    else:
        from carbontwin.twin.store import NotFoundError, Store

        store = Store.open(_settings(database_url, None).database_url, tenant=tenant)
        try:
            fp = store.latest_footprint(target)
            if fp is None:
                try:
                    fp = store.get_footprint(target)
                except NotFoundError:
                    msg = f"{target} is neither a file nor an order or footprint id in the store"
                    raise NotFoundError(msg, field="target") from None
            stored = store.stored_footprint(fp.id)
        finally:
            store.close()
        pub = _public_key(out, key, key_url, key_path, stored.public_key_pem)
        result = verify_document(stored.document, pub)
        problems = stored.problems
        target = f"footprint {fp.id} (order {fp.order}, v{fp.version})"
        if fp.withdrawal_reason:  # signed as issued, and says the order's footprint is void
            target += f", a withdrawal ({fp.withdrawal_reason}): not a valid footprint"
    if result.valid and not problems:
        out.print(
            f"[green]OK[/] {target}: {result.reason} (key {result.key_id}, "
            f"sha256 {result.sha256[:16]}…)",
            highlight=False,
        )
        return
    reasons = ([] if result.valid else [result.reason]) + list(problems)
    # a document that no longer matches its signature (or a stored row its payload) is
    # altered; one that could not be checked (not signed, another key) is not verified
    verdict = "ALTERED" if result.altered or problems else "NOT VERIFIED"
    out.print(f"[red]{verdict}[/] {target}: {'; '.join(reasons)}", highlight=False)
    raise typer.Exit(1)


def plugins_list(
    group: Annotated[str | None, typer.Argument(help="One group, e.g. exporters")] = None,
) -> None:
    """List the plugins of the carbontwin.* entry-point groups."""
    from carbontwin.plugins.registry import list_plugins

    table = Table(title="carbontwin plugins")
    for col in ("group", "name", "target", "from"):
        table.add_column(col)
    for p in list_plugins(group):
        table.add_row(p.group, p.name, p.target, p.distribution)
    Console().print(table)


def label(
    what: Annotated[
        str,
        typer.Argument(
            help="Order id (latest footprint in the store) or a signed footprint JSON file "
            "(as issued: GET /footprints/{id}, the demo's footprints/*.json)"
        ),
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Output file; .pdf, .svg, .html or .json (the label document: the footprint "
            "as signed at issuance and what the label shows)",
        ),
    ] = None,
    database_url: DbOpt = None,
    base_url: Annotated[
        str | None,
        typer.Option(
            help="Public URL of the service, for the QR code (default: CARBONTWIN_PUBLIC_BASE_URL)"
        ),
    ] = None,
    headline: Annotated[
        str,
        typer.Option(help="Scope 2 method of the headline figure: location or market"),
    ] = "",
    tenant: TenantOpt = "default",
) -> None:
    """Render the carbon label of an order (or of a signed footprint file).

    The QR code points to the footprint's public page
    (``<public URL>/public/footprints/<id>``), which answers once the footprint
    is published (``carbontwin publish``).

    Nothing is signed here: the label embeds the footprint's signature made at
    issuance, which ``carbontwin verify LABEL`` checks.
    """
    from carbontwin.plugins.label import (
        label_document,
        label_from_document,
        render_html,
        render_pdf,
        render_svg,
    )

    settings = _settings(database_url, None)
    factory = None
    path = Path(what)
    if path.suffix.lower() == ".json" and path.exists():
        signed = json.loads(path.read_text(encoding="utf-8"))
        if not (isinstance(signed, dict) and "payload" in signed and "signature" in signed):
            from carbontwin.twin.errors import PluginError

            msg = (
                f"{path}: not a signed footprint (needs 'payload' and 'signature', as issued); "
                "labels are made from issued footprints"
            )
            raise PluginError(msg, field="what")
    else:
        from carbontwin.twin.store import NotFoundError, Store

        if path.suffix.lower() == ".json":
            msg = f"footprint file {what} not found"
            raise NotFoundError(msg, field="what")
        store = Store.open(settings.database_url, tenant=tenant)
        try:
            try:
                store.get_order(what)
            except NotFoundError as exc:
                msg = (
                    f"{exc.message}; give the store that holds it with --database-url or "
                    "CARBONTWIN_DATABASE_URL (carbontwin demo keeps its store in its output "
                    "folder), or a footprint JSON file"
                )
                raise NotFoundError(msg, field="what") from None
            latest = store.latest_footprint(what)
            if latest is None:
                Console(stderr=True).print(f"[red]order {what!r} has no issued footprint yet[/]")
                raise typer.Exit(1)
            signed = store.stored_footprint(latest.id).document
            try:
                factory = store.load_factory()
            except NotFoundError:
                factory = None
        finally:
            store.close()
    fp_id = str(signed["payload"].get("id", ""))
    product = ""
    if factory is not None:
        try:
            product = factory.product(str(signed["payload"].get("product", ""))).name
        except KeyError:
            product = ""
    from carbontwin.plugins.pact import label_facts, pact_context, render_pact_v3
    from carbontwin.twin.footprint import Footprint

    fp = Footprint.from_dict(signed["payload"])
    public_base = base_url or settings.public_base_url
    if not public_base:
        public_base = "http://127.0.0.1:8000"
        Console(stderr=True).print(
            "[yellow]no public URL: the QR code points to http://127.0.0.1:8000; set "
            "CARBONTWIN_PUBLIC_BASE_URL or --base-url to where customers reach the service[/]",
            highlight=False,
        )
    doc = label_document(
        signed,
        product_name=product,
        company=settings.company_name or (factory.name if factory else ""),
        pact_url=f"{public_base.rstrip('/')}/public/footprints/{fp_id}",
        headline=headline or settings.scope2_headline,
        facts=label_facts(
            render_pact_v3(
                fp,
                pact_context(
                    fp,
                    factory,
                    domain=settings.pact_domain,
                    company_name=settings.company_name,
                    classifications=settings.product_classifications,
                ),
            )
        ),
    )
    data = label_from_document(doc)
    out = out or Path(f"label-{data.order}.pdf")
    suffix = out.suffix.lower()
    if suffix == ".pdf":
        out.write_bytes(render_pdf(None, doc))
    elif suffix == ".svg":
        out.write_text(render_svg(data), encoding="utf-8")
    elif suffix in (".html", ".htm"):
        out.write_text(render_html(None, doc), encoding="utf-8")
    elif suffix == ".json":
        out.write_text(json.dumps(doc, indent=1, ensure_ascii=False), encoding="utf-8")
    else:
        msg = f"--out {out}: use a .pdf, .svg, .html or .json file"
        raise typer.BadParameter(msg)
    Console().print(
        f"label of order {data.order} (footprint v{data.version}, "
        f"{data.per_unit_kg:.3g} kg CO2e/{data.unit}, {data.headline}-based) -> {out}",
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("serve")(serve)
    app.command("verify")(verify)
    app.command("label")(label)
    plugins = typer.Typer(
        help="Extension plugins (entry points carbontwin.*).", no_args_is_help=True
    )
    plugins.command("list")(plugins_list)
    app.add_typer(plugins, name="plugins")
