-- AlterTable
ALTER TABLE "Run" ADD COLUMN     "resumeValue" TEXT;
