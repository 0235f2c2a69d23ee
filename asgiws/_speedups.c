/* Optional C speedup for the WebSocket hot path: XOR masking (RFC 6455 section 5.3).
 *
 * apply_mask(data, mask) -> bytes, and unmask_at(buffer, start, end) -> bytes, which unmasks
 * buffer[start:end] with the key in the 4 bytes before start (a frame's masking key precedes
 * its payload) without slicing either out first.
 * payload_buffer(n) and unmask_into(target, offset, data, start, end, key) let a large frame's
 * payload be unmasked straight into the bytes object that is delivered, read by read, while
 * each read is still in the cache. The pure-Python fallbacks in asgiws/protocol/frames.py give
 * the same results; the tests run both. Built at install time when a compiler is present.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* Below this size the XOR takes less time than releasing and taking back the GIL. */
#define RELEASE_GIL_FROM 65536

static void
xor_mask(char *out, const char *in, Py_ssize_t n, const unsigned char *key)
{
    Py_ssize_t i = 0;
    uint32_t mask32;
    uint64_t mask64;

    memcpy(&mask32, key, 4);
    mask64 = ((uint64_t)mask32 << 32) | mask32;
    for (; i + 8 <= n; i += 8) {
        uint64_t word;
        memcpy(&word, in + i, 8);
        word ^= mask64;
        memcpy(out + i, &word, 8);
    }
    for (; i < n; i++) {
        out[i] = in[i] ^ key[i & 3];
    }
}

static PyObject *
masked_copy(const char *in, Py_ssize_t n, const unsigned char *key)
{
    PyObject *result = PyBytes_FromStringAndSize(NULL, n);
    if (result == NULL) {
        return NULL;
    }
    if (n >= RELEASE_GIL_FROM) {
        Py_BEGIN_ALLOW_THREADS
        xor_mask(PyBytes_AS_STRING(result), in, n, key);
        Py_END_ALLOW_THREADS
    }
    else {
        xor_mask(PyBytes_AS_STRING(result), in, n, key);
    }
    return result;
}

static PyObject *
apply_mask(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer data, mask;
    PyObject *result = NULL;
    unsigned char key[4];

    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError, "apply_mask expected 2 arguments, got %zd", nargs);
        return NULL;
    }
    if (PyObject_GetBuffer(args[0], &data, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    if (PyObject_GetBuffer(args[1], &mask, PyBUF_SIMPLE) < 0) {
        PyBuffer_Release(&data);
        return NULL;
    }
    if (mask.len != 4) {
        PyErr_SetString(PyExc_ValueError, "mask must contain 4 bytes");
    }
    else {
        memcpy(key, mask.buf, 4);
        result = masked_copy((const char *)data.buf, data.len, key);
    }
    PyBuffer_Release(&mask);
    PyBuffer_Release(&data);
    return result;
}

static PyObject *
unmask_at(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer data;
    PyObject *result = NULL;
    Py_ssize_t start, end;
    unsigned char key[4];

    if (nargs != 3) {
        PyErr_Format(PyExc_TypeError, "unmask_at expected 3 arguments, got %zd", nargs);
        return NULL;
    }
    start = PyLong_AsSsize_t(args[1]);
    if (start == -1 && PyErr_Occurred()) {
        return NULL;
    }
    end = PyLong_AsSsize_t(args[2]);
    if (end == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (PyObject_GetBuffer(args[0], &data, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    if (start < 4 || end < start || end > data.len) {
        PyErr_SetString(PyExc_ValueError, "need 4 key bytes before start and end <= len(data)");
    }
    else {
        memcpy(key, (const char *)data.buf + start - 4, 4);
        result = masked_copy((const char *)data.buf + start, end - start, key);
    }
    PyBuffer_Release(&data);
    return result;
}

static PyObject *
payload_buffer(PyObject *self, PyObject *arg)
{
    /* payload_buffer(n): a new, unfilled bytes object of n bytes for unmask_into() to fill
     * before anyone else sees it: a large frame's payload, written as its reads arrive. */
    Py_ssize_t n = PyLong_AsSsize_t(arg);
    if (n == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (n < 0) {
        PyErr_SetString(PyExc_ValueError, "size must be >= 0");
        return NULL;
    }
    return PyBytes_FromStringAndSize(NULL, n);
}

static PyObject *
unmask_into(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    /* unmask_into(target, offset, data, start, end, key): write data[start:end] XOR the 4-byte
     * key (None: copy as is) into target[offset:], the key's phase given by offset. target is a
     * bytes object from payload_buffer() that nobody else holds yet, or a writable buffer. */
    Py_buffer data, key_view, dest_view;
    char *dest;
    Py_ssize_t dest_len, offset, start, end, n, k;
    unsigned char key[4], phased[4];
    int has_key = 0, has_dest_view = 0;
    PyObject *target;

    if (nargs != 6) {
        PyErr_Format(PyExc_TypeError, "unmask_into expected 6 arguments, got %zd", nargs);
        return NULL;
    }
    target = args[0];
    offset = PyLong_AsSsize_t(args[1]);
    if (offset == -1 && PyErr_Occurred()) {
        return NULL;
    }
    start = PyLong_AsSsize_t(args[3]);
    if (start == -1 && PyErr_Occurred()) {
        return NULL;
    }
    end = PyLong_AsSsize_t(args[4]);
    if (end == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (args[5] != Py_None) {
        if (PyObject_GetBuffer(args[5], &key_view, PyBUF_SIMPLE) < 0) {
            return NULL;
        }
        if (key_view.len != 4) {
            PyBuffer_Release(&key_view);
            PyErr_SetString(PyExc_ValueError, "key must contain 4 bytes");
            return NULL;
        }
        memcpy(key, key_view.buf, 4);
        PyBuffer_Release(&key_view);
        has_key = 1;
    }
    if (PyBytes_CheckExact(target)) {
        dest = PyBytes_AS_STRING(target);
        dest_len = PyBytes_GET_SIZE(target);
    }
    else {
        if (PyObject_GetBuffer(target, &dest_view, PyBUF_WRITABLE) < 0) {
            return NULL;
        }
        has_dest_view = 1;
        dest = dest_view.buf;
        dest_len = dest_view.len;
    }
    if (PyObject_GetBuffer(args[2], &data, PyBUF_SIMPLE) < 0) {
        if (has_dest_view) {
            PyBuffer_Release(&dest_view);
        }
        return NULL;
    }
    n = end - start;
    if (start < 0 || n < 0 || end > data.len || offset < 0 || offset > dest_len - n) {
        PyErr_SetString(PyExc_ValueError, "data[start:end] does not fit target[offset:]");
    }
    else if (has_key) {
        for (k = 0; k < 4; k++) {
            phased[k] = key[(offset + k) & 3];
        }
        if (n >= RELEASE_GIL_FROM) {
            Py_BEGIN_ALLOW_THREADS
            xor_mask(dest + offset, (const char *)data.buf + start, n, phased);
            Py_END_ALLOW_THREADS
        }
        else {
            xor_mask(dest + offset, (const char *)data.buf + start, n, phased);
        }
    }
    else {
        memcpy(dest + offset, (const char *)data.buf + start, n);
    }
    PyBuffer_Release(&data);
    if (has_dest_view) {
        PyBuffer_Release(&dest_view);
    }
    if (PyErr_Occurred()) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyMethodDef speedups_methods[] = {
    {"apply_mask", (PyCFunction)(void (*)(void))apply_mask, METH_FASTCALL,
     "XOR data with a 4-byte mask repeated."},
    {"unmask_at", (PyCFunction)(void (*)(void))unmask_at, METH_FASTCALL,
     "unmask_at(buffer, start, end): buffer[start:end] XOR the 4-byte key at buffer[start-4:start]."},
    {"payload_buffer", (PyCFunction)payload_buffer, METH_O,
     "payload_buffer(n): a new unfilled bytes object for unmask_into() to fill."},
    {"unmask_into", (PyCFunction)(void (*)(void))unmask_into, METH_FASTCALL,
     "unmask_into(target, offset, data, start, end, key): data[start:end] XOR key into target."},
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
