"""A third-party Modbus TCP server (pymodbus) for interoperability tests: `python3 pymodbus_server.py PORT`."""
import asyncio, sys
from pymodbus.datastore import ModbusSequentialDataBlock, ModbusSlaveContext, ModbusServerContext
from pymodbus.server import StartAsyncTcpServer

async def main(port):
    # pymodbus data blocks are 1-based internally: address 0 maps to index 1.
    store = ModbusSlaveContext(
        di=ModbusSequentialDataBlock(0, [0] * 200),
        co=ModbusSequentialDataBlock(0, [0] * 200),
        hr=ModbusSequentialDataBlock(0, list(range(200))),
        ir=ModbusSequentialDataBlock(0, [7] * 200),
    )
    context = ModbusServerContext(slaves=store, single=True)
    print("ready", flush=True)
    await StartAsyncTcpServer(context=context, address=("127.0.0.1", port))

asyncio.run(main(int(sys.argv[1])))
