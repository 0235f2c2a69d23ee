/* Optional C speedup for the WebSocket hot path: XOR masking (RFC 6455 section 5.3).
 *
 * apply_mask(data, mask) -> bytes. The pure-Python fallback in asgiws/protocol/frames.py gives
 * the same results; the tests run both. Built at install time when a compiler is present.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

static PyObject *
apply_mask(PyObject *self, PyObject *args)
{
    Py_buffer data, mask;
    PyObject *result;
    char *out;
    const char *in;
    Py_ssize_t n, i = 0;
    uint64_t mask64;
    uint32_t mask32;

    if (!PyArg_ParseTuple(args, "y*y*:apply_mask", &data, &mask)) {
        return NULL;
    }
    if (mask.len != 4) {
        PyErr_SetString(PyExc_ValueError, "mask must contain 4 bytes");
        goto error;
    }
    n = data.len;
    result = PyBytes_FromStringAndSize(NULL, n);
    if (result == NULL) {
        goto error;
    }
    out = PyBytes_AS_STRING(result);
    in = (const char *)data.buf;
    memcpy(&mask32, mask.buf, 4);
    mask64 = ((uint64_t)mask32 << 32) | mask32;

    Py_BEGIN_ALLOW_THREADS
    for (; i + 8 <= n; i += 8) {
        uint64_t word;
        memcpy(&word, in + i, 8);
        word ^= mask64;
        memcpy(out + i, &word, 8);
    }
    for (; i < n; i++) {
        out[i] = in[i] ^ ((const char *)mask.buf)[i & 3];
    }
    Py_END_ALLOW_THREADS

    PyBuffer_Release(&data);
    PyBuffer_Release(&mask);
    return result;

error:
    PyBuffer_Release(&data);
    PyBuffer_Release(&mask);
    return NULL;
}

static PyMethodDef speedups_methods[] = {
    {"apply_mask", apply_mask, METH_VARARGS, "XOR data with a 4-byte mask repeated."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef speedups_module = {
    PyModuleDef_HEAD_INIT, "asgiws._speedups", "C speedups for asgiws.", -1, speedups_methods,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    return PyModule_Create(&speedups_module);
}
