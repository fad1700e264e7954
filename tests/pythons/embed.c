// SPDX-License-Identifier: MIT
/* A program that embeds CPython through libpython3.X.so, as servers and
 * plugins do: run like `python` (a script and its arguments), with the
 * interpreter in the shared library instead of the executable.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

int main(int argc, char **argv)
{
	PyStatus status;
	PyConfig config;

	PyConfig_InitPythonConfig(&config);
	status = PyConfig_SetBytesArgv(&config, argc, argv);
	if (!PyStatus_Exception(status))
		status = Py_InitializeFromConfig(&config);
	PyConfig_Clear(&config);
	if (PyStatus_Exception(status))
		Py_ExitStatusException(status);
	return Py_RunMain();
}
