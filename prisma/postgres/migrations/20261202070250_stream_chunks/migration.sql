-- CreateTable
CREATE TABLE "StreamChunk" (
    "runId" TEXT NOT NULL,
    "afterSeq" INTEGER NOT NULL,
    "part" INTEGER NOT NULL,
    "stepId" TEXT NOT NULL,
    "execution" INTEGER NOT NULL,
    "position" INTEGER NOT NULL,
    "text" TEXT NOT NULL,

    CONSTRAINT "StreamChunk_pkey" PRIMARY KEY ("runId","afterSeq","part")
);

-- AddForeignKey
ALTER TABLE "StreamChunk" ADD CONSTRAINT "StreamChunk_runId_fkey" FOREIGN KEY ("runId") REFERENCES "Run"("id") ON DELETE CASCADE ON UPDATE CASCADE;
