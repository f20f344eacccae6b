# Appended by `make docs` to the conf.py that `antsibull-docs sphinx-init` writes into build/docsite.
# (Sphinx settings only; the collection's docs themselves are in plugins/, roles/*/meta/ and docs/.)

# The guides are Markdown (docs/**/*.md, read on GitHub as they are); myst-parser renders them.
# `extensions` is defined by the generated part above
extensions.append('myst_parser')  # noqa: F821 pylint: disable=undefined-variable

# The build is offline (CI reaches no docs server), so there is no intersphinx. The labels of
# the Ansible documentation that antsibull-docs' page templates link to stay plain text.
extensions.remove('sphinx.ext.intersphinx')  # noqa: F821 pylint: disable=undefined-variable
nitpick_ignore = [
    ('std:ref', 'common_return_values'),
    ('std:ref', 'ansible_configuration_settings'),
    ('std:ref', 'callback_plugins'),  # the drift callback's page (a stdout callback)
]

# Links to a section of another guide (safety.md#clearing-a-stale-checkpoint) work as on GitHub.
myst_heading_anchors = 3

# Mermaid blocks (docs/topology.md) are drawn by GitHub; Sphinx has no mermaid lexer and, under
# -W, would fail on "Pygments lexer name 'mermaid' is not known": show them as plain text.
from pygments.lexers.special import TextLexer  # noqa: E402  pylint: disable=wrong-import-position
from sphinx.highlighting import lexers  # noqa: E402  pylint: disable=wrong-import-position

lexers['mermaid'] = TextLexer()
