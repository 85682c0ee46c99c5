# Installed by fedspawner as {sys.prefix}/etc/ipython/ipython_kernel_config.py, where every IPython
# kernel of this environment reads it: it loads the fedspawner extension (%%fedsubmit, %fedjobs,
# %fedlogs, %fedcancel, %fedattach). ``append`` adds to, rather than replaces, extensions listed in
# other configuration files (the user's profile, /etc/ipython). Loading only registers the magics.
c = get_config()  # noqa: F821
c.InteractiveShellApp.extensions.append("fedspawner")
