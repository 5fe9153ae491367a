"""`hotline model list|promote|rollback`: versions of the deployed classifier bundle."""


def register(sub) -> None:
    p = sub.add_parser("model", help="list, promote or roll back deployed classifier versions")
    acts = p.add_subparsers(dest="model_action", metavar="ACTION")
    acts.add_parser("list", help="versions under HOME/models (* = current)").set_defaults(func=run)
    pr = acts.add_parser("promote", help="make a version (name or bundle directory) current")
    pr.add_argument("version")
    pr.set_defaults(func=run)
    acts.add_parser("rollback", help="return to the previously promoted version").set_defaults(func=run)
    p.set_defaults(func=lambda args, settings: p.print_help() or 2)


def run(args, settings) -> int:
    from classifier import registry

    root = settings.models_root
    if args.model_action == "list":
        versions = registry.list_versions(root)
        if not versions:
            print(f"no model versions under {root}")
        for v in versions:
            print(f"{'*' if v['current'] else ' '} {v['name']}  {v['built_at'] or '?'}  "
                  f"heads: {','.join(v['heads']) or '-'}")
        return 0
    if args.model_action == "promote":
        print(f"current model: {registry.promote(root, args.version)}")
        return 0
    print(f"current model: {registry.rollback(root)}")
    return 0
