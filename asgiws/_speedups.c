/* Optional C speedup for the WebSocket hot path: XOR masking (RFC 6455 section 5.3).
 *
 * apply_mask(data, mask) -> bytes, and unmask_at(buffer, start, end) -> bytes, which unmasks
 * buffer[start:end] with the key in the 4 bytes before start (a frame's masking key precedes
 * its payload) without slicing either out first; unmask_chunks(chunks, start, end) does the
 * same over a list of buffers (a large frame, read by read), without joining them. The pure-Python fallbacks in
 * asgiws/protocol/frames.py give the same results; the tests run both. Built at install time
 * when a compiler is present.
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
unmask_chunks(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    /* unmask_chunks(chunks, start, end): unmask_at() over the concatenation of the buffers in
     * the list chunks (a large frame as it arrived, read by read), joining nothing first. */
    PyObject *chunks, *result = NULL;
    Py_ssize_t start, end, count, i, offset = 0, done = 0;
    unsigned char key[4];
    Py_ssize_t key_found = 0;
    Py_buffer *views;

    if (nargs != 3) {
        PyErr_Format(PyExc_TypeError, "unmask_chunks expected 3 arguments, got %zd", nargs);
        return NULL;
    }
    chunks = args[0];
    if (!PyList_Check(chunks)) {
        PyErr_SetString(PyExc_TypeError, "chunks must be a list");
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
    count = PyList_GET_SIZE(chunks);
    views = PyMem_Calloc(count ? count : 1, sizeof(Py_buffer));
    if (views == NULL) {
        return PyErr_NoMemory();
    }
    for (i = 0; i < count; i++) {
        if (PyObject_GetBuffer(PyList_GET_ITEM(chunks, i), &views[i], PyBUF_SIMPLE) < 0) {
            goto done;
        }
        offset += views[i].len;
    }
    if (start < 4 || end < start || end > offset) {
        PyErr_SetString(PyExc_ValueError, "need 4 key bytes before start and end <= total length");
        goto done;
    }
    result = PyBytes_FromStringAndSize(NULL, end - start);
    if (result == NULL) {
        goto done;
    }
    /* The key: the 4 bytes before start, wherever they are. */
    offset = 0;
    for (i = 0; i < count && key_found < 4; i++) {
        Py_ssize_t j;
        for (j = 0; j < views[i].len && key_found < 4; j++) {
            Py_ssize_t at = offset + j;
            if (at >= start - 4 && at < start) {
                key[at - (start - 4)] = ((const unsigned char *)views[i].buf)[j];
                key_found++;
            }
            if (at >= start) {
                break;
            }
        }
        offset += views[i].len;
    }
    /* The payload, piece by piece, each XORed with the key at the right phase. */
    offset = 0;
    for (i = 0; i < count && done < end - start; i++) {
        Py_ssize_t from = start > offset ? start - offset : 0;
        Py_ssize_t to = end - offset < views[i].len ? end - offset : views[i].len;
        if (to > from) {
            unsigned char phased[4];
            Py_ssize_t k, phase = (offset + from - start) & 3;
            for (k = 0; k < 4; k++) {
                phased[k] = key[(phase + k) & 3];
            }
            if (to - from >= RELEASE_GIL_FROM) {
                Py_BEGIN_ALLOW_THREADS
                xor_mask(PyBytes_AS_STRING(result) + done,
                         (const char *)views[i].buf + from, to - from, phased);
                Py_END_ALLOW_THREADS
            }
            else {
                xor_mask(PyBytes_AS_STRING(result) + done,
                         (const char *)views[i].buf + from, to - from, phased);
            }
            done += to - from;
        }
        offset += views[i].len;
    }
done:
    for (i = 0; i < count; i++) {
        if (views[i].obj != NULL) {
            PyBuffer_Release(&views[i]);
        }
    }
    PyMem_Free(views);
    return result;
}

static PyMethodDef speedups_methods[] = {
    {"apply_mask", (PyCFunction)(void (*)(void))apply_mask, METH_FASTCALL,
     "XOR data with a 4-byte mask repeated."},
    {"unmask_at", (PyCFunction)(void (*)(void))unmask_at, METH_FASTCALL,
     "unmask_at(buffer, start, end): buffer[start:end] XOR the 4-byte key at buffer[start-4:start]."},
    {"unmask_chunks", (PyCFunction)(void (*)(void))unmask_chunks, METH_FASTCALL,
     "unmask_chunks(chunks, start, end): unmask_at() over the concatenation of chunks."},
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
