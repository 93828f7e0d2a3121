/* A shared library that is not an nnctl plugin: no nnctl_plugin_init. */
int not_a_plugin(int x);
int not_a_plugin(int x) { return x + 1; }
