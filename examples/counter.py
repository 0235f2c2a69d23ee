#!/usr/bin/env python

import asyncio
import json
import logging
import os
import sys

import asgiws as websockets

# Not in the guide: the host and port can be changed (argv[1] or WS_PORT, WS_HOST).
HOST = os.environ.get("WS_HOST", "localhost")
PORT = int(sys.argv[1]) if len(sys.argv) > 1 else int(os.environ.get("WS_PORT", "6789"))

logging.basicConfig()

# 保存所有在线客户端
USERS = set()

# 计数器的值
VALUE = 0


def users_event():
    return json.dumps({"type": "users", "count": len(USERS)})


def value_event():
    return json.dumps({"type": "value", "value": VALUE})


# 广播更新所有客户端显示的counter值
def notify_state():
    if USERS:
        websockets.broadcast(USERS, value_event())


# 广播通知客户端在线数量
def notify_users():
    if USERS:
        websockets.broadcast(USERS, users_event())


# 注册客户端
def register(ws):
    USERS.add(ws)
    notify_users()

# 注销客户端
def unregister(ws):
    USERS.remove(ws)
    notify_users()


async def counter(server):
    global USERS, VALUE
    # 用户登录
    register(server)
    try:
        await server.send(value_event())
        # 迭代websocket以不断接收消息，此处要求对象实现了 __iter__()、__await__()、 __aenter__()、 __aexit__() 方法。
        async for message in server:
            data = json.loads(message)
            if data["action"] == "minus":
                VALUE -= 1
                notify_state()
            elif data["action"] == "plus":
                VALUE += 1
                notify_state()
            else:
                logging.error("unsupported event: %s", data)
    finally:
        # 客户端断开后，用户注销
        unregister(server)


async def main():
    async with websockets.serve(counter, HOST, PORT):
        await asyncio.Future()  # run forever

if __name__ == "__main__":
    asyncio.run(main())
