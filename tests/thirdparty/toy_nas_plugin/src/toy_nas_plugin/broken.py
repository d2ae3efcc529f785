"""A plugin module whose import fails, as a package with a missing dependency would."""

raise ImportError("toy_nas_plugin.broken needs the package 'not-installed-anywhere'")
