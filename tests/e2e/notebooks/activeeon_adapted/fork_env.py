# The fork environment Activeeon's example notebooks name (#%fork_env(name=..., path=./fork_env.py))
# but do not ship. On ProActive it runs before a task's JVM is forked, with `forkEnvironment`
# bound; the embedded and Dask backends keep it for export_xml and say it does not apply.
forkEnvironment.addSystemEnvironmentVariable("PRAGMA_EXAMPLE", "activeeon")
